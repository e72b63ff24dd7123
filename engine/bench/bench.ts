/**
 * Standard benchmarks, engine side: the worker command for a run (jobs/bench.py runs
 * lm-evaluation-harness on the tuned model and its base), the table of both sides' scores with the
 * deltas, and the report in the run's reports/ (bench.json and bench.md, written atomically once
 * complete, so an interrupted benchmark leaves the previous report intact).
 *
 * The delta's standard error is sqrt(se_tuned² + se_base²): the two models are scored on the same
 * documents, so the scores are positively correlated and this over-states the error of the
 * difference (a paired error needs per-document scores, which lm-eval keeps only with log_samples).
 * Erring wide is the safe side for "did fine-tuning change this?".
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../protocol/messages";
import { effectiveBase, trainedWeights } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";
import { BenchReportSchema, changeLevel, type BenchOptions, type BenchReport, type BenchRow } from "./schema";

export { BenchOptionsSchema, BenchReportSchema, changeLevel, type BenchOptions, type BenchReport, type BenchRow } from "./schema";

export function benchPaths(store: Pick<RunStore, "runDir">, runId: string): { json: string; markdown: string } {
  const dir = join(store.runDir(runId), "reports");
  return { json: join(dir, "bench.json"), markdown: join(dir, "bench.md") };
}

/** The worker command for benchmarking `runId` against its base, or an error saying why it cannot be. */
export function benchCommand(store: RunStore, runId: string, opts: BenchOptions): (id: string) => Command {
  const tuned = trainedWeights(store, runId, "benchmark", "RUN_NOT_READY", ", then benchmark it");
  const taskDir = opts.taskDir === null ? null : resolve(opts.taskDir);
  if (taskDir !== null && !existsSync(taskDir)) {
    throw new WhetstoneError({ code: "USAGE", message: `The custom task folder ${taskDir} does not exist.`, hint: "Point --task-dir at a folder of lm-eval task YAML files." });
  }
  return (id) => ({
    v: 1,
    type: "bench",
    id,
    model_path: effectiveBase(store, runId),
    tuned_path: tuned.path,
    tuned_kind: tuned.kind,
    sides: ["tuned", "base"],
    tasks: opts.tasks,
    limit: opts.limit,
    num_fewshot: opts.numFewshot,
    chat_template: opts.chatTemplate,
    batch_size: opts.batchSize,
    include_path: taskDir,
  });
}

interface SideRow {
  task: string;
  alias: string;
  top: boolean;
  metric: string;
  filter: string;
  value: number;
  stderr: number | null;
  higher_is_better: boolean | null;
}
interface Side {
  rows: SideRow[];
  n_samples: Record<string, number | null>;
}

/** Both sides' rows joined on task, metric and filter (the tuned side's order), with the deltas. */
export function benchTable(tuned: Side, base: Side): BenchRow[] {
  const key = (r: SideRow) => `${r.task}\u0000${r.metric}\u0000${r.filter}`;
  const baseRows = new Map(base.rows.map((r) => [key(r), r]));
  const rows = tuned.rows.map((t) => {
    const b = baseRows.get(key(t));
    baseRows.delete(key(t));
    return row(t, b, tuned.n_samples[t.task] ?? base.n_samples[t.task] ?? null);
  });
  for (const b of baseRows.values()) rows.push(row(undefined, b, base.n_samples[b.task] ?? null));
  return rows;
}

function row(t: SideRow | undefined, b: SideRow | undefined, n: number | null): BenchRow {
  const any = (t ?? b)!;
  const delta = t && b ? t.value - b.value : null;
  const deltaStderr = t && b && t.stderr !== null && b.stderr !== null ? Math.sqrt(t.stderr ** 2 + b.stderr ** 2) : null;
  return {
    task: any.task,
    alias: any.alias,
    top: any.top,
    metric: any.metric,
    filter: any.filter,
    tuned: t?.value ?? null,
    tuned_stderr: t?.stderr ?? null,
    base: b?.value ?? null,
    base_stderr: b?.stderr ?? null,
    delta,
    delta_stderr: deltaStderr,
    higher_is_better: any.higher_is_better ?? null,
    n,
  };
}

/** The worker's result as a report (throws BENCH_BAD_REPORT when it is not the shape jobs/bench.py answers). */
export function benchReport(runId: string, result: Record<string, unknown>): BenchReport {
  const r = result as { lm_eval_version?: unknown; tasks?: unknown; settings?: unknown; sides?: { tuned?: Side & Record<string, unknown>; base?: Side & Record<string, unknown> }; seconds?: unknown };
  const { tuned, base } = r.sides ?? {};
  if (!tuned?.rows || !base?.rows) throw new WhetstoneError({ code: "BENCH_BAD_REPORT", message: "The worker's benchmark result lacks the tuned or the base model's scores.", hint: "This is a bug in Whetstone." });
  const { rows: _t, ...tunedFacts } = tuned;
  const { rows: _b, ...baseFacts } = base;
  const parsed = BenchReportSchema.safeParse({
    run_id: runId,
    created_at: new Date().toISOString(),
    lm_eval_version: r.lm_eval_version,
    tasks: r.tasks,
    against: "base",
    settings: r.settings,
    rows: benchTable(tuned, base),
    sides: { tuned: tunedFacts, base: baseFacts },
    seconds: r.seconds,
  });
  if (!parsed.success) throw new WhetstoneError({ code: "BENCH_BAD_REPORT", message: `The worker's benchmark result is malformed: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`, hint: "This is a bug in Whetstone." });
  return parsed.data;
}

export function saveBenchReport(store: RunStore, runId: string, report: BenchReport): BenchReport {
  const paths = benchPaths(store, runId);
  writeJsonAtomic(paths.json, report);
  writeFileAtomic(paths.markdown, formatBench(report) + "\n");
  return report;
}

export function loadBenchReport(store: RunStore, runId: string): BenchReport | null {
  const { json } = benchPaths(store, runId);
  return existsSync(json) ? (JSON.parse(readFileSync(json, "utf8")) as BenchReport) : null;
}

/** A score as lm-eval prints it (4 decimals), or "n/a". */
export function fmt(x: number | null, signed = false): string {
  if (x === null) return "n/a";
  return `${signed && x >= 0 ? "+" : ""}${x.toFixed(4)}`;
}
const withSe = (x: number | null, se: number | null, signed = false) => (x === null ? "n/a" : se === null ? fmt(x, signed) : `${fmt(x, signed)} ± ${se.toFixed(4)}`);

/** The table `whetstone bench` prints and reports/bench.md holds: every row, subtasks after their group. */
export function formatBench(report: BenchReport): string {
  const s = report.settings as { limit?: number | null; num_fewshot?: number | null; chat_template?: boolean; device?: string; dtype?: string; batch_size?: unknown };
  const lines = [
    `# Benchmarks of ${report.run_id} against its base`,
    "",
    "| task | metric | filter | n | tuned ± stderr | base ± stderr | tuned − base ± stderr |",
    "|---|---|---|---|---|---|---|",
    ...report.rows.map((r) => {
      const arrow = { better: " ▲", worse: " ▼", same: "" }[changeLevel(r)];
      return `| ${r.top ? r.task : `  ${r.alias.trim()}`} | ${r.metric} | ${r.filter} | ${r.n ?? "?"} | ${withSe(r.tuned, r.tuned_stderr)} | ${withSe(r.base, r.base_stderr)} | ${withSe(r.delta, r.delta_stderr, true)}${arrow} |`;
    }),
    "",
    `lm-evaluation-harness ${report.lm_eval_version}; tasks ${report.tasks.join(", ")}; ${s.limit ? `at most ${s.limit} documents per task` : "every document"}; ` +
      `${s.num_fewshot ?? "the tasks' default"} few-shot; chat template ${s.chat_template ? "on" : "off"}; ${s.device ?? "?"} ${s.dtype ?? ""}, batch ${String(s.batch_size ?? "?")}; ${report.seconds.toFixed(0)} s.`,
    "The tuned model is the base with the run's adapter applied (not merged) or the run's full model. The delta's ± is sqrt(se_tuned² + se_base²), wider than a paired error on the same documents.",
    "▲/▼: better/worse than the base by the metric's direction, by more than twice the delta's ±; unmarked: within noise.",
  ];
  return lines.join("\n");
}
