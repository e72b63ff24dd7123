/**
 * One sweep as it goes: how many trials train at once and why, a row per trial (its settings in
 * words, how it stands or ended and why, its losses, a link to its run), each running trial's own
 * dashboard below, cancel and resume, and once judged the ranking (SweepRanking). It is the store's copy, kept current by `sweep` events; it is
 * read once from the engine on mount, so a reload or another window finds it as it is.
 */
import { useAppStore } from "../store/store";
import { JobPage, useJob } from "./job-page";
import { ErrorBox } from "../components/ErrorBox";
import { ProgressBar } from "../components/ProgressBar";
import { TableHead } from "../components/TableHead";
import { duration, num } from "../lib/format";
import { settingsInWords, trialState } from "../lib/sweep";
import { RunDashboard } from "./RunDashboard";
import { SweepRanking } from "./SweepRanking";
import type { SweepStatus, Trial } from "../../../engine/api/public";

export function SweepView({ id }: { id: string }) {
  const sweep = useAppStore((s) => s.sweeps[id]);
  const { client, error, busy, act } = useJob<SweepStatus, "cancel" | "resume">((c) => c.getSweep({ id }), (s) => useAppStore.getState().upsertSweep(s), id);

  if (!sweep) return <ErrorBox error={error} />;
  const active = sweep.state === "running" || sweep.state === "judging";
  const done = sweep.trials.filter((t) => !["pending", "running", "paused"].includes(t.state)).length;
  const running = sweep.trials.filter((t) => t.state === "running" && t.run_id);
  return (
    <section className="sweep" aria-label={`Sweep ${sweep.name}`}>
      <div className="run-head">
        <span className={`state ${sweep.state}`} data-testid="sweep-state">
          {sweep.state}
        </span>
        <strong>{sweep.name}</strong>
        <span className="muted">
          {done} of {sweep.trials.length} trials done · {duration(sweep.elapsed_s)}
        </span>
        {active && (
          <button type="button" className="danger" disabled={busy !== null} onClick={act("cancel", () => client.cancelSweep({ id: sweep.id }))}>
            Cancel the sweep
          </button>
        )}
        {(sweep.state === "interrupted" || sweep.state === "cancelled" || sweep.state === "failed") && (
          <button type="button" disabled={busy !== null} onClick={act("resume", () => client.resumeSweep({ id: sweep.id }))}>
            Resume the sweep
          </button>
        )}
      </div>
      {sweep.side_by_side && (
        <p className="muted" data-testid="sweep-side-by-side">
          Trials train {sweep.side_by_side.text}.
        </p>
      )}
      {sweep.state === "interrupted" && <p className="muted">The process that ran this sweep stopped. Resume it: finished trials are kept, the cut one goes on from its checkpoint.</p>}
      <ErrorBox error={error ?? sweep.error} />
      <TrialsTable sweep={sweep} />
      <Saved sweep={sweep} />
      {sweep.state === "judging" && <JudgingProgress sweep={sweep} />}
      {sweep.selection && <SweepRanking sweep={sweep} />}
      {running.map((t) => (
        <details key={t.run_id} className="trial-run" open>
          <summary>
            Trial {t.index} training now: {settingsInWords(t.settings)}
          </summary>
          <RunDashboard runId={t.run_id!} />
        </details>
      ))}
    </section>
  );
}

export function TrialsTable({ sweep }: { sweep: SweepStatus }) {
  return (
    <table className="trials" data-testid="trials">
      <TableHead columns={["Trial", "Settings", "State", "Steps", "Final loss", "Validation loss", "Run"]} />
      <tbody>
        {sweep.trials.map((t) => (
          <TrialRow key={t.index} trial={t} best={sweep.selection?.best_trial === t.index} />
        ))}
      </tbody>
    </table>
  );
}

function TrialRow({ trial: t, best }: { trial: Trial; best: boolean }) {
  // While a trial trains its own run has the live figures (the trial's are written every few
  // seconds and when it ends): its latest metrics row, which comes every step as on its dashboard's
  // charts, else the run's status, which is written every few seconds.
  const run = useAppStore((s) => (t.run_id ? s.runs[t.run_id] : undefined));
  const latest = useAppStore((s) => (t.run_id && t.state === "running" ? s.metrics[t.run_id]?.rows.at(-1) : undefined));
  const live = t.state === "running" && run;
  const step = latest?.step ?? (live ? run.step : t.steps);
  const total = (typeof latest?.total_steps === "number" ? latest.total_steps : null) ?? (live ? run.total_steps : t.total_steps);
  const loss = typeof latest?.loss === "number" ? latest.loss : live ? run.last_loss : t.final_loss;
  const { label, reason } = trialState(t);
  const { navigate } = useAppStore.getState();
  return (
    <tr data-state={t.state} className={best ? "best" : undefined}>
      <td className="trial-n">
        {t.index}
        {best && <div className="badge">★ best</div>}
      </td>
      <td>{settingsInWords(t.settings)}</td>
      <td>
        <span className={`state ${t.state}`}>{label}</span>
        {t.state === "running" && total ? <progress aria-label={`Trial ${t.index} progress`} value={(step ?? 0) / total} max={1} /> : null}
        {reason && (
          <div className="small reason">
            <span className="sr-only">: </span>
            {reason}
          </div>
        )}
      </td>
      <td>{step == null && total == null ? "–" : `${step ?? 0}/${total ?? "?"}`}</td>
      <td>{num(loss)}</td>
      <td>{num(t.val_loss)}</td>
      <td>
        {t.run_id ? (
          <button type="button" className="link" onClick={() => navigate({ name: "run", id: t.run_id! })} aria-label={`Open the run of trial ${t.index}`} title={t.run_id}>
            {run?.name ?? t.run_id}
          </button>
        ) : (
          "–"
        )}
      </td>
    </tr>
  );
}

/** What early stopping saved, once something was stopped. */
function Saved({ sweep }: { sweep: SweepStatus }) {
  const stopped = sweep.trials.filter((t) => t.state === "stopped");
  if (stopped.length === 0) return null;
  const saved = sweep.trials.reduce((a, t) => a + t.saved_steps, 0);
  const planned = sweep.trials.reduce((a, t) => a + (t.total_steps ?? 0), 0);
  return (
    <p className="muted" data-testid="sweep-saved">
      Early stopping stopped {stopped.length} of {sweep.trials.length} trials and saved {saved} of {planned} planned steps.
    </p>
  );
}

/** The judge works on behalf of the first finished trial's run: its progress is the judging's. */
function JudgingProgress({ sweep }: { sweep: SweepStatus }) {
  const first = sweep.trials.find((t) => t.state === "completed" && t.run_id)?.run_id;
  const progress = useAppStore((s) => (first ? s.progress[first] : undefined));
  return (
    <div>
      <p>The judge is comparing the finished trials' answers…</p>
      {progress && progress.phase !== "train" && <ProgressBar progress={progress} label="Judging progress" />}
    </div>
  );
}

/** The sweep's own page (from the runs list). */
export function SweepPage({ id }: { id: string }) {
  const name = useAppStore((s) => s.sweeps[id]?.name ?? id);
  return (
    <JobPage titleId="sweep-title" title={`Sweep ${name}`}>
      <SweepView id={id} />
    </JobPage>
  );
}
