/** `whetstone eval`, `whetstone compare` (and `whetstone merge`): judge runs, rank them, merge them. */
import type { Engine } from "../api/engine";
import { comparePaths, evalPaths } from "../eval/eval";
import { formatJudgments, scoreJudgments } from "../eval/judgments";
import { formatCompare, formatEval } from "../eval/report";
import type { CompareOptions, EvalOptions } from "../eval/schema";
import { MERGE_METHODS, type MergeOptions } from "../merge/schema";
import { WhetstoneError } from "../util/errors";
import { EXIT, type Io } from "./commands";
import { RunProgress } from "./progress";

type Values = Record<string, string | boolean | undefined>;

function num(name: string, v: string | boolean | undefined, { int = false } = {}): number | undefined {
  if (v === undefined || typeof v === "boolean") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) throw new WhetstoneError({ code: "USAGE", message: `--${name} must be a ${int ? "whole " : ""}number ≥ 0, got '${v}'.`, hint: "`whetstone help` shows the usage." });
  return n;
}

const str = (v: string | boolean | undefined) => (typeof v === "string" ? v : undefined);

/** The judging and generation flags shared by eval and compare (unset flags keep the defaults). */
export function judgingFlags(values: Values): Partial<CompareOptions> {
  const out: Partial<CompareOptions> = {
    prompts: str(values.prompts),
    judge: str(values.judge),
    judgeModel: str(values["judge-model"]),
    limit: num("limit", values.limit, { int: true }),
    maxNewTokens: num("max-tokens", values["max-tokens"], { int: true }),
    temperature: num("temperature", values.temperature),
    topP: num("top-p", values["top-p"]),
    seed: num("seed", values.seed, { int: true }),
    resamples: num("resamples", values.resamples, { int: true }),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Partial<CompareOptions>;
}

/** Follow one run's progress on the terminal; Ctrl-C cancels the evaluation. */
function follow(engine: Engine, runId: string, io: Io, what: string): RunProgress {
  const progress = new RunProgress(runId, io.out);
  engine.events.on("event", (e) => progress.handle(e));
  io.onInterrupt(() => {
    progress.line(`Cancelling the ${what} (no report is written).`);
    engine.cancelEval({ id: runId });
  });
  return progress;
}

async function settle<T>(progress: RunProgress, io: Io, what: string, work: Promise<T>): Promise<T | null> {
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

export async function evalCommand(engine: Engine, ref: string, io: Io, values: Values): Promise<number> {
  const runId = engine.getRun({ id: ref }).status.id;
  const against = str(values.against) ?? "base";
  const progress = follow(engine, runId, io, "evaluation");
  io.out.write(`evaluating ${runId} against ${against}\n`);
  const report = await settle(progress, io, "evaluation", engine.call("evalRun", { id: runId, against, ...(judgingFlags(values) as Partial<EvalOptions>) }));
  if (!report) return EXIT.cancelled;
  if (values.json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(`${formatEval(report)}\n\nreport: ${evalPaths(engine.store, runId, report.against === "base" ? "base" : String((report as { against?: string }).against)).json}\n`);
  return EXIT.ok;
}

/** `whetstone eval --judgments FILE`: re-score judgments from elsewhere; no run, model or judge involved. */
export function judgmentsCommand(file: string, io: Io, values: Values): number {
  const result = scoreJudgments(file, { resamples: num("resamples", values.resamples, { int: true }) ?? 1000 });
  io.out.write(values.json ? JSON.stringify(result, null, 2) + "\n" : formatJudgments(result) + "\n");
  return EXIT.ok;
}

export async function compareCommand(engine: Engine, refs: string[], io: Io, values: Values): Promise<number> {
  if (refs.length < 2) throw new WhetstoneError({ code: "USAGE", message: "`whetstone compare` needs at least two runs.", hint: "e.g. whetstone compare lr-1e-4 lr-3e-4 lr-1e-3" });
  const runIds = refs.map((r) => engine.getRun({ id: r }).status.id);
  const progress = follow(engine, runIds[0]!, io, "comparison");
  io.out.write(`comparing ${runIds.join(", ")} against their bases and each other\n`);
  const report = await settle(progress, io, "comparison", engine.call("compareRuns", { ids: runIds, ...judgingFlags(values) }));
  if (!report) return EXIT.cancelled;
  if (values.json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(`${formatCompare(report)}\n\nstored in every run, e.g. ${comparePaths(engine.store, runIds[0]!).json}\n`);
  return EXIT.ok;
}

export async function mergeCommand(engine: Engine, refs: string[], io: Io, values: Values): Promise<number> {
  const method = str(values.method);
  if (refs.length === 0 || !method || !(MERGE_METHODS as readonly string[]).includes(method)) {
    throw new WhetstoneError({ code: "USAGE", message: "`whetstone merge RUN… --method soup|greedy-soup|dare` needs runs and a method.", hint: "e.g. whetstone merge lr-1e-4 lr-3e-4 --method dare --p 0.5" });
  }
  const runIds = refs.map((r) => engine.getRun({ id: r }).status.id);
  const progress = follow(engine, runIds[0]!, io, "merge");
  const p = num("p", values.p);
  io.out.write(`merging ${runIds.join(", ")} (${method}${method === "dare" ? `, p ${p ?? 0.5}` : ""})\n`);
  engine.events.on("event", (e) => e.type === "progress" && e.runId !== runIds[0] && progress.handle({ ...e, runId: runIds[0]! }));
  const result = await settle(progress, io, "merge", engine.call("mergeRuns", { ids: runIds, method: method as MergeOptions["method"], ...(p === undefined ? {} : { p }), ...(str(values.name) ? { name: str(values.name) } : {}), ...judgingFlags(values) }));
  if (!result) return EXIT.cancelled;
  if (values.json) {
    io.out.write(JSON.stringify(result, null, 2) + "\n");
    return EXIT.ok;
  }
  const id = result.run.id;
  const lines = [`merged into run ${id}`, `  folder ${engine.store.runDir(id)}`, `  model  ${result.run.outputs.model}`, `  from   ${runIds.join(", ")}`];
  const ingredients = result.lineage.ingredients as string[] | undefined;
  if (ingredients) lines.push(`  greedy soup kept ${ingredients.length} of ${runIds.length}: ${ingredients.join(", ")}`);
  lines.push(`evaluate: whetstone eval ${id}    export: whetstone export ${id} --format safetensors --out DIR`);
  io.out.write(lines.join("\n") + "\n");
  return EXIT.ok;
}
