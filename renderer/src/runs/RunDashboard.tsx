/** A run live: progress with ETA, charts (every numeric metric the recipe reports), cancel, log; a
 *  grpo run's sampled completions with their rewards. */
import { useEffect, useMemo, useState } from "react";
import { useShallow } from "zustand/react/shallow";
import { useAppStore } from "../store/store";
import { useClient, errorInfo } from "../client/context";
import { LineChart } from "../components/LineChart";
import { ErrorBox } from "../components/ErrorBox";
import { series } from "../lib/downsample";
import { duration, num } from "../lib/format";

/** Charts in this order first; any other numeric metric (preference rewards, margins…) follows. */
const PRIMARY: [string, string][] = [
  ["loss", "Loss"],
  ["lr", "Learning rate"],
  ["grad_norm", "Gradient norm"],
  ["tokens_per_s", "Tokens / s"],
];
const NOT_CHARTED = new Set(["step", "total_steps", "epoch", "tokens", "elapsed_s", "eta_s", "val_loss", "trained_tokens", "dropped_tokens", "time"]);

export function RunDashboard({ runId }: { runId: string }) {
  const client = useClient();
  const run = useAppStore((s) => s.runs[runId]);
  const metrics = useAppStore((s) => s.metrics[runId]);
  const log = useAppStore(useShallow((s) => s.logs[runId] ?? []));
  const [error, setError] = useState<ReturnType<typeof errorInfo> | null>(null);

  useEffect(() => {
    const s = useAppStore.getState();
    client.getRun({ id: runId }).then((r) => s.upsertRun(r.status), (e) => setError(errorInfo(e)));
    client.getMetrics({ id: runId }).then((rows) => s.setMetrics(runId, rows as never), () => undefined);
    client.getLog({ id: runId, tail: 200 }).then((lines) => s.setLog(runId, lines), () => undefined);
  }, [client, runId]);

  const rows = metrics?.rows;
  const version = metrics?.version ?? 0;
  const charts = useMemo(() => {
    if (!rows || rows.length === 0) return PRIMARY.map(([key, title]) => ({ key, title, series: [] }));
    const keys = new Set<string>();
    for (const r of rows.slice(-50)) for (const k of Object.keys(r)) if (!NOT_CHARTED.has(k) && typeof r[k] === "number") keys.add(k);
    const extra = [...keys].filter((k) => !PRIMARY.some(([p]) => p === k) && k !== "packing_efficiency");
    // GRPO's measure is its reward (its loss hovers near 0 by construction): first.
    if (extra.includes("reward")) extra.unshift(...extra.splice(extra.indexOf("reward"), 1));
    const first = extra[0] === "reward" ? [["reward", "Reward"] as [string, string]] : [];
    return [...first, ...PRIMARY, ...extra.slice(first.length).map((k) => [k, k.replaceAll("_", " ")] as [string, string])].map(([key, title]) => ({
      key,
      title,
      series: key === "loss" ? [{ label: "train", points: series(rows, "loss") }, { label: "validation", points: series(rows, "val_loss") }].filter((s) => s.points.length) : [{ label: title, points: series(rows, key) }],
    }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [rows, version]);

  if (!run) return <ErrorBox error={error} />;
  const active = run.state === "running" || run.state === "queued";
  const frac = run.total_steps ? run.step / run.total_steps : undefined;
  return (
    <section className="dashboard" aria-label={`Run ${run.id}`}>
      <div className="run-head">
        <span className={`state ${run.state}`} data-testid="run-state">{run.state}</span>
        <code>{run.id}</code>
        {run.device && <span className="muted">on {run.device}</span>}
        {active && (
          <button type="button" className="danger" onClick={() => client.cancelRun({ id: run.id }).catch((e) => setError(errorInfo(e)))}>
            Cancel
          </button>
        )}
        {(run.state === "interrupted" || run.state === "failed" || run.state === "cancelled") && run.last_checkpoint && (
          <button type="button" onClick={() => client.resumeRun({ id: run.id }).catch((e) => setError(errorInfo(e)))}>
            Resume from step {run.last_checkpoint.step}
          </button>
        )}
      </div>
      <div className="progress">
        <progress aria-label="Training progress" value={frac} max={1} />
        <span>
          step {run.step}/{run.total_steps ?? "?"} · {run.phase ?? run.state} · {typeof rows?.at(-1)?.reward === "number" ? `reward ${num(rows.at(-1)!.reward)}` : `loss ${num(run.last_loss)}`}
          {active ? ` · ETA ${duration(run.eta_s)}` : ""}
        </span>
      </div>
      {active && <p className="muted">Training runs in the engine: closing this window does not stop it.</p>}
      <ErrorBox error={run.error ?? error} />
      <div className="charts">
        {charts.map((c) => (
          <LineChart key={c.key} title={c.title} series={c.series} version={version} />
        ))}
      </div>
      {run.method === "grpo" && <SamplesPanel runId={run.id} step={run.step} state={run.state} />}
      <details className="log" open={run.state === "failed"}>
        <summary>Log ({log.length} lines)</summary>
        <pre tabIndex={0} aria-label="Run log">{log.slice(-200).join("\n")}</pre>
      </details>
    </section>
  );
}

type Round = Awaited<ReturnType<ReturnType<typeof useClient>["getSamples"]>>[number];

/** grpo: what the model wrote for one prompt every 10 rounds, and what each answer scored; newest first. */
function SamplesPanel({ runId, step, state }: { runId: string; step: number; state: string }) {
  const client = useClient();
  const [rounds, setRounds] = useState<Round[]>([]);
  const [shown, setShown] = useState<number | null>(null);
  const every = Math.floor(step / 5); // fetch again every few steps while it trains, and when it stops
  useEffect(() => {
    client.getSamples({ id: runId, tail: 20 }).then(setRounds, () => undefined);
  }, [client, runId, every, state]);
  if (rounds.length === 0) return null;
  const round = rounds.find((r) => r.round === shown) ?? rounds.at(-1)!;
  const names = Object.keys(round.completions[0]?.rewards ?? {});
  const score = (x: number | null) => (x === null ? "–" : x.toFixed(2));
  return (
    <details className="samples" open aria-label="Sampled completions">
      <summary>
        Sampled answers (round {round.round}, step {round.step})
      </summary>
      <label className="inline">
        Round{" "}
        <select value={round.round} onChange={(e) => setShown(Number(e.target.value))} aria-label="Round">
          {[...rounds].reverse().map((r) => (
            <option key={r.round} value={r.round}>
              {r.round} (step {r.step})
            </option>
          ))}
        </select>
      </label>
      <p className="muted">The prompt of line {round.line} of the data, and the answers the model sampled for it; the training makes the better-scored ones more likely.</p>
      <pre className="prompt" tabIndex={0} aria-label="Prompt">{round.prompt}</pre>
      <table>
        <thead>
          <tr>
            <th>Answer</th>
            <th>Reward</th>
            {names.length > 1 && names.map((n) => <th key={n}>{n.replaceAll("_", " ")}</th>)}
          </tr>
        </thead>
        <tbody>
          {round.completions.map((c, i) => (
            <tr key={i}>
              <td>
                <code>{c.text === "" ? "(empty)" : c.text}</code>
              </td>
              <td>{score(c.reward)}</td>
              {names.length > 1 && names.map((n) => <td key={n}>{score(c.rewards[n] ?? null)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
