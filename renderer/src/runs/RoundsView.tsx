/**
 * One round loop (ALMA's self-bootstrapping rounds) as it goes: what it does now with its progress
 * and time left, the win-rate curve over the rounds, a row per round (its runs one click away, the
 * rows its model wrote and kept, the preference pairs, the length-controlled win rates against the
 * base and the round before with their 95% intervals, how it ended), why the loop stopped and the
 * round to use, and Cancel / Resume. The store's copy is kept current by `rounds` events and read
 * once from the engine on mount, so a reload or another window finds it as it is.
 */
import { useAppStore } from "../store/store";
import { JobPage, useJob } from "./job-page";
import { ErrorBox } from "../components/ErrorBox";
import { LineChart } from "../components/LineChart";
import { ProgressBar } from "../components/ProgressBar";
import { TableHead } from "../components/TableHead";
import { duration } from "../lib/format";
import { loopNow, matchInWords, roundState, trainingProgress, winRateSeries } from "../lib/rounds";
import { roundModel, type Match, type Round, type RoundsStatus } from "../../../engine/api/public";

export function RoundsView({ id }: { id: string }) {
  const loop = useAppStore((s) => s.roundLoops[id]);
  const { client, error, busy, act } = useJob<RoundsStatus, "cancel" | "resume">((c) => c.getRounds({ id }), (s) => useAppStore.getState().upsertRoundLoop(s), id);

  if (!loop) return <ErrorBox error={error} />;
  const judged = loop.rounds.filter((r) => r.state === "done").length;
  const series = winRateSeries(loop);
  return (
    <section className="rounds" aria-label={`Rounds ${loop.name}`}>
      <div className="run-head">
        <span className={`state ${loop.state}`} data-testid="rounds-state">
          {loop.state}
        </span>
        <span className="muted">
          {judged} of up to {loop.spec.rounds} rounds judged · {duration(loop.elapsed_s)}
        </span>
        {loop.state === "running" && (
          <button type="button" className="danger" disabled={busy !== null} onClick={act("cancel", () => client.cancelRounds({ id: loop.id }))}>
            {busy === "cancel" ? "Cancelling… (the training saves a checkpoint first)" : "Cancel the rounds"}
          </button>
        )}
        {(loop.state === "interrupted" || loop.state === "cancelled" || loop.state === "failed") && (
          <button type="button" disabled={busy !== null} onClick={act("resume", () => client.resumeRounds({ id: loop.id }))}>
            Resume the rounds
          </button>
        )}
      </div>
      <p className="muted">
        Each round the current model writes {String(loop.spec.synth.n ?? "")} rows of training data, a run trains on them from the round before
        {loop.spec.dpo ? ", then a preference run (DPO) on the judge's better and worse answers" : ""}, and the judge compares the new model with the base model and the round
        before on the same {loop.spec.limit === 1 ? "prompt" : `${loop.spec.limit} prompts at most`}. The rounds go on while a round beats the one before.
      </p>
      {loop.start_run && (
        <p className="muted">
          Round 1 starts from the run <RunLink id={loop.start_run} what="the run the rounds started from" />.
        </p>
      )}
      {loop.state === "interrupted" && <p className="muted">The process that ran these rounds stopped. Resume them: finished rounds are kept, and a cut step goes on where it was.</p>}
      <ErrorBox error={error ?? loop.error} />
      <Outcome loop={loop} />
      <NowPanel loop={loop} />
      {series[0]!.points.length > 0 ? (
        <LineChart title="Length-controlled win rate, % (shaded: 95% CI)" series={series} xLabel="round" />
      ) : (
        <p className="muted">The win-rate curve appears once the first round is judged.</p>
      )}
      <RoundsTable loop={loop} />
    </section>
  );
}

/** Why the loop stopped and which round to use. */
function Outcome({ loop }: { loop: RoundsStatus }) {
  const { navigate } = useAppStore.getState();
  const best = loop.rounds.find((r) => r.index === loop.best_round);
  const model = best ? roundModel(best) : null;
  if (loop.state !== "completed" && !loop.stopped) return null;
  return (
    <div className="rounds-outcome" data-testid="rounds-outcome">
      {loop.stopped && <p>Stopped: {loop.stopped}.</p>}
      {loop.state === "completed" &&
        (model ? (
          <p>
            <strong>Best: round {best!.index}.</strong>{" "}
            <button type="button" className="link" onClick={() => navigate({ name: "run", id: model })}>
              Open its model
            </button>
          </p>
        ) : (
          <p>
            <strong>No round beat the model it started from:</strong> keep the base model.
          </p>
        ))}
    </div>
  );
}

/** The open round's phase, with its progress and time left. */
function NowPanel({ loop }: { loop: RoundsStatus }) {
  const now = loopNow(loop);
  const event = useAppStore((s) => (now?.progressKey ? s.progress[now.progressKey] : undefined));
  const run = useAppStore((s) => (now?.runId ? s.runs[now.runId] : undefined));
  if (!now) return null;
  const progress = now.runId ? trainingProgress(run, event) : event;
  return (
    <div className="rounds-now" data-testid="rounds-now">
      <p>{now.text}</p>
      <ProgressBar progress={progress} label={`Round ${now.round.index} progress`} />
    </div>
  );
}

export function RoundsTable({ loop }: { loop: RoundsStatus }) {
  const dpo = loop.spec.dpo !== null;
  const columns = ["Round", "Model", "Rows kept", ...(dpo ? ["Pairs"] : []), "Vs the base (95% CI)", "Vs the round before (95% CI)", "State"];
  return (
    <table className="trials rounds-table" data-testid="rounds-table">
      <TableHead columns={columns} />
      <tbody>
        {loop.rounds.length === 0 && (
          <tr>
            <td colSpan={columns.length} className="muted">
              The first round is starting.
            </td>
          </tr>
        )}
        {loop.rounds.map((r) => (
          <RoundRow key={r.index} round={r} loop={loop} dpo={dpo} />
        ))}
      </tbody>
    </table>
  );
}

function RoundRow({ round: r, loop, dpo }: { round: Round; loop: RoundsStatus; dpo: boolean }) {
  const { label, reason } = roundState(r, loop);
  const best = loop.best_round === r.index;
  return (
    <tr data-state={r.state} className={best ? "best" : undefined}>
      <td className="trial-n">
        {r.index}
        {best && <div className="badge">★ best</div>}
      </td>
      <td>
        <RunLink id={r.run_id} what={`round ${r.index}'s training`} />
        {dpo && r.run_id && (
          <div>
            then <RunLink id={r.dpo_run_id} what={`round ${r.index}'s preference training`} />
          </div>
        )}
      </td>
      <td>
        {r.rows === null ? "–" : r.candidates !== null ? `${r.rows} of ${r.candidates}` : String(r.rows)}
        {r.synth_complete === false && <div className="small muted">short of {String(loop.spec.synth.n ?? "")}: the model wrote too few usable rows</div>}
      </td>
      {dpo && (
        <td>
          {r.pair_rows === null ? "–" : r.pair_rows}
          {r.pairs_dropped ? <div className="small muted">{r.pairs_dropped} too close to call</div> : null}
        </td>
      )}
      <MatchCell match={r.vs_base} />
      {r.parent_run === null ? <td className="muted">(the base model)</td> : <MatchCell match={r.vs_previous} />}
      <td>
        <span className={`state ${r.state === "done" ? (reason ? "stopped" : "completed") : r.state}`}>{label}</span>
        {reason && (
          <div className="small reason">
            <span className="sr-only">: </span>
            {reason}
          </div>
        )}
      </td>
    </tr>
  );
}

function MatchCell({ match }: { match: Match | null }) {
  const m = matchInWords(match);
  return <td>{m ? <>{m.rate} <span className="muted">({m.ci})</span></> : "–"}</td>;
}

function RunLink({ id, what }: { id: string | null; what: string }) {
  const name = useAppStore((s) => (id ? s.runs[id]?.name : undefined));
  if (!id) return <>–</>;
  return (
    <button type="button" className="link" onClick={() => useAppStore.getState().navigate({ name: "run", id })} aria-label={`Open ${what}`} title={id}>
      {name ?? id}
    </button>
  );
}

/** The loop's own page (from the runs list). */
export function RoundsPage({ id }: { id: string }) {
  const name = useAppStore((s) => s.roundLoops[id]?.name ?? id);
  return (
    <JobPage titleId="rounds-title" title={`Rounds ${name}`}>
      <RoundsView id={id} />
    </JobPage>
  );
}
