/**
 * The Evaluate step's "Benchmarks": standard benchmarks (lm-evaluation-harness, in the worker) on
 * the tuned model and its base. Presets for the common ones, more by name, an optional folder of the
 * user's own tasks, a cap on questions; progress with ETA; the table of scores ± standard error and
 * the change, marked better or worse by each metric's direction.
 */
import { useEffect, useState } from "react";
import { BENCH_PRESETS, changeLevel, type BenchReport } from "../../../engine/api/public";
import { useClient } from "../client/context";
import { useTask } from "../client/use-task";
import { TaskControls } from "../components/TaskControls";
import { TableHead } from "../components/TableHead";
import { needsCompletedRun } from "../lib/run-gates";
import { useAppStore } from "../store/store";

const LABELS: Record<string, string> = Object.fromEntries(BENCH_PRESETS.map((p) => [p.task, p.label]));

/** The tasks to run: the ticked presets, then the names typed (comma- or space-separated), each once. */
export function chosenTasks(presets: string[], more: string): string[] {
  return [...new Set([...presets, ...more.split(/[\s,]+/).filter(Boolean)])];
}

export function BenchPanel({ runId }: { runId: string }) {
  const client = useClient();
  const report = useAppStore((s) => s.benches[runId]);
  const state = useAppStore((s) => s.runs[runId]?.state);
  const [presets, setPresets] = useState<string[]>(["arc_challenge"]);
  const [more, setMore] = useState("");
  const [folder, setFolder] = useState("");
  const [limit, setLimit] = useState<number | null>(100);
  const { run: track } = useTask(`bench:${runId}`);
  const gate = needsCompletedRun(state, "Benchmarking");
  const tasks = chosenTasks(presets, more);

  useEffect(() => {
    client.getBench({ id: runId }).then((r) => useAppStore.getState().setBench(runId, r), () => undefined);
  }, [client, runId]);

  const toggle = (task: string) => setPresets((p) => (p.includes(task) ? p.filter((t) => t !== task) : [...p, task]));
  const run = () =>
    track(async () => useAppStore.getState().setBench(runId, await client.benchRun({ id: runId, tasks, limit, ...(folder.trim() ? { taskDir: folder.trim() } : {}) })));
  return (
    <section aria-label="Benchmarks" className="bench">
      <h3>Benchmarks</h3>
      <p className="muted">
        Standard benchmarks from lm-evaluation-harness, scored on the tuned model and on its base with the same questions. Each benchmark downloads its questions the first time (then they are kept on this computer).
      </p>
      <fieldset className="row">
        <legend>Benchmarks to run</legend>
        {BENCH_PRESETS.map((p) => (
          <label key={p.task} title={p.about}>
            <input type="checkbox" checked={presets.includes(p.task)} onChange={() => toggle(p.task)} /> {p.label}
          </label>
        ))}
      </fieldset>
      <div className="row">
        <label>
          More benchmarks, by name <input type="text" value={more} placeholder="e.g. arc_easy, winogrande" onChange={(e) => setMore(e.target.value)} aria-label="More benchmarks, by name" />
        </label>
        <label>
          Folder of your own benchmarks <input type="text" value={folder} placeholder="optional" onChange={(e) => setFolder(e.target.value)} aria-label="Folder of your own benchmarks" />
        </label>
      </div>
      <div className="row">
        <label>
          <input type="checkbox" checked={limit === null} onChange={(e) => setLimit(e.target.checked ? null : 100)} /> Every question
        </label>
        {limit !== null && (
          <label>
            Questions per benchmark{" "}
            <input type="number" min={1} value={limit} onChange={(e) => setLimit(Math.max(1, Number(e.target.value) || 1))} aria-label="Questions per benchmark" />
          </label>
        )}
      </div>
      {limit !== null && <p className="muted small">Fewer questions are quicker but noisier: compare a change with its ± before trusting it.</p>}
      <TaskControls
        runId={runId}
        kind="bench"
        labels={{ start: report ? "Benchmark again" : "Run the benchmarks", running: "Benchmarking…", stop: "Cancel", progress: "Benchmark progress" }}
        gate={gate}
        incomplete={tasks.length === 0}
        onStart={run}
      />
      {report && <BenchTable report={report} />}
    </section>
  );
}

const score = (x: number | null, se: number | null, signed = false) =>
  x === null ? "–" : `${signed && x >= 0 ? "+" : ""}${x.toFixed(3)}${se === null ? "" : ` ± ${se.toFixed(3)}`}`;

export function BenchTable({ report }: { report: BenchReport }) {
  const rows = report.rows.filter((r) => r.top);
  const limit = (report.settings as { limit?: number | null }).limit;
  return (
    <>
      <table className="bench-table" data-testid="bench-table">
        <TableHead columns={["Benchmark", "Measure", "Questions", "Tuned", "Base", "Change"]} />
        <tbody>
          {rows.map((r) => {
            const level = changeLevel(r);
            return (
              <tr key={`${r.task}/${r.metric}/${r.filter}`}>
                <th scope="row">{LABELS[r.task] ?? r.task}</th>
                <td>{r.filter === "none" ? r.metric : `${r.metric} (${r.filter})`}</td>
                <td>{r.n ?? "–"}</td>
                <td>{score(r.tuned, r.tuned_stderr)}</td>
                <td>{score(r.base, r.base_stderr)}</td>
                <td className={`change ${level}`} data-level={level}>
                  {score(r.delta, r.delta_stderr, true)} {level === "better" ? "▲" : level === "worse" ? "▼" : ""}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="muted small">
        Scores from lm-evaluation-harness {report.lm_eval_version}{limit ? `, at most ${limit} questions per benchmark` : ""}, ± one standard error. ▲ or ▼: the tuned model is better or worse than its base by more than twice the change's ±; otherwise the difference is within noise.
      </p>
    </>
  );
}
