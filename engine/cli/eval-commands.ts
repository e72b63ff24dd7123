/** `whetstone eval`, `whetstone compare` (and `whetstone merge`): judge runs, rank them, merge them. */
import { comparePaths, evalPaths } from "../eval/eval";
import { formatJudgments } from "../eval/judgments";
import { formatCompare, formatEval } from "../eval/report";
import type { CompareOptions } from "../eval/schema";
import type { MergeOptions } from "../merge/schema";
import type { TaskKind } from "../jobs/kinds";
import { WhetstoneError } from "../util/errors";
import { defined, runFolder } from "./commands";
import { EXIT, type Client, type Io } from "./io";
import { RunProgress } from "./progress";

/** The judging and generation options shared by eval, compare and merge (table.ts). */
export interface JudgingValues {
  json?: boolean;
  prompts?: string;
  judge?: string;
  "judge-model"?: string;
  limit?: number;
  "max-tokens"?: number;
  temperature?: number;
  "top-p"?: number;
  seed?: number;
  resamples?: number;
}

/** The judging flags as the API's options (unset flags keep the engine's defaults). */
export function judgingFlags(v: JudgingValues): Partial<CompareOptions> {
  return defined({ prompts: v.prompts, judge: v.judge, judgeModel: v["judge-model"], limit: v.limit, maxNewTokens: v["max-tokens"], temperature: v.temperature, topP: v["top-p"], seed: v.seed, resamples: v.resamples });
}

/** Follow one run's progress on the terminal; Ctrl-C cancels the evaluation (or the task of `kind`). */
export function follow(engine: Client, runId: string, io: Io, what: string, kind?: TaskKind): RunProgress {
  const progress = new RunProgress(runId, io.out);
  engine.subscribe((e) => progress.handle(e));
  io.onInterrupt(() => {
    progress.line(`Cancelling the ${what} (no report is written).`);
    void (kind ? engine.call("cancelTask", { id: runId, kind }) : engine.call("cancelEval", { id: runId }));
  });
  return progress;
}

export async function settle<T>(progress: RunProgress, io: Io, what: string, work: Promise<T>): Promise<T | null> {
  try {
    return await work;
  } catch (e) {
    if ((e as { code?: string }).code !== "CANCELLED") throw e;
    io.err(`${what} cancelled; no report was written\n`);
    return null;
  } finally {
    progress.finish();
  }
}

export async function evalCommand(engine: Client, ref: string, io: Io, values: JudgingValues & { against?: string }): Promise<number> {
  const { status, dir } = await engine.call("getRun", { id: ref });
  const runId = status.id;
  const against = values.against ?? "base";
  const progress = follow(engine, runId, io, "evaluation");
  io.out.write(`evaluating ${runId} against ${against}\n`);
  const report = await settle(progress, io, "evaluation", engine.call("evalRun", { id: runId, against, ...judgingFlags(values) }));
  if (!report) return EXIT.cancelled;
  if (values.json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(`${formatEval(report)}\n\nreport: ${evalPaths(runFolder(dir), runId, report.against === "base" ? "base" : String((report as { against?: string }).against)).json}\n`);
  return EXIT.ok;
}

/** `whetstone eval --judgments FILE`: re-score judgments from elsewhere; no run, model or judge involved. */
export async function judgmentsCommand(engine: Client, path: string, io: Io, values: { json?: boolean; resamples?: number }): Promise<number> {
  const result = await engine.call("scoreJudgments", { path, ...defined({ resamples: values.resamples }) });
  io.out.write(values.json ? JSON.stringify(result, null, 2) + "\n" : formatJudgments(result) + "\n");
  return EXIT.ok;
}

/** Each run reference as its run id and folder. */
async function resolveRuns(engine: Client, refs: string[]): Promise<{ ids: string[]; dirs: string[] }> {
  const runs = await Promise.all(refs.map((id) => engine.call("getRun", { id })));
  return { ids: runs.map((r) => r.status.id), dirs: runs.map((r) => r.dir) };
}

export async function compareCommand(engine: Client, refs: string[], io: Io, values: JudgingValues): Promise<number> {
  if (refs.length < 2) throw new WhetstoneError({ code: "USAGE", message: "`whetstone compare` needs at least two runs.", hint: "e.g. whetstone compare lr-1e-4 lr-3e-4 lr-1e-3" });
  const { ids: runIds, dirs } = await resolveRuns(engine, refs);
  const progress = follow(engine, runIds[0]!, io, "comparison");
  io.out.write(`comparing ${runIds.join(", ")} against their bases and each other\n`);
  const report = await settle(progress, io, "comparison", engine.call("compareRuns", { ids: runIds, ...judgingFlags(values) }));
  if (!report) return EXIT.cancelled;
  if (values.json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(`${formatCompare(report)}\n\nstored in every run, e.g. ${comparePaths(runFolder(dirs[0]!), runIds[0]!).json}\n`);
  return EXIT.ok;
}

export async function mergeCommand(engine: Client, refs: string[], io: Io, values: JudgingValues & { method?: MergeOptions["method"]; p?: number; name?: string }): Promise<number> {
  const { method, p } = values;
  if (refs.length === 0 || !method) {
    throw new WhetstoneError({ code: "USAGE", message: "`whetstone merge RUN… --method soup|greedy-soup|dare` needs runs and a method.", hint: "e.g. whetstone merge lr-1e-4 lr-3e-4 --method dare --p 0.5" });
  }
  const { ids: runIds } = await resolveRuns(engine, refs);
  const progress = follow(engine, runIds[0]!, io, "merge");
  io.out.write(`merging ${runIds.join(", ")} (${method}${method === "dare" ? `, p ${p ?? 0.5}` : ""})\n`);
  engine.subscribe((e) => e.type === "progress" && e.runId !== runIds[0] && progress.handle({ ...e, runId: runIds[0]! }));
  const result = await settle(progress, io, "merge", engine.call("mergeRuns", { ids: runIds, method, ...defined({ p, name: values.name }), ...judgingFlags(values) }));
  if (!result) return EXIT.cancelled;
  if (values.json) {
    io.out.write(JSON.stringify(result, null, 2) + "\n");
    return EXIT.ok;
  }
  const id = result.run.id;
  const { dir } = await engine.call("getRun", { id });
  const lines = [`merged into run ${id}`, `  folder ${dir}`, `  model  ${result.run.outputs.model}`, `  from   ${runIds.join(", ")}`];
  const ingredients = result.lineage.ingredients as string[] | undefined;
  if (ingredients) lines.push(`  greedy soup kept ${ingredients.length} of ${runIds.length}: ${ingredients.join(", ")}`);
  lines.push(`evaluate: whetstone eval ${id}    export: whetstone export ${id} --format safetensors --out DIR`);
  io.out.write(lines.join("\n") + "\n");
  return EXIT.ok;
}
