/**
 * Merging runs into a new run (model soups, greedy soups, DARE; ALGORITHMS.md). The worker merges
 * the weights (whetstone_worker/jobs/merge.py); this module checks that the runs can be merged, makes
 * the new run through the run store (its folder, config, the first run's data snapshot so it has
 * the same held-out prompts, and lineage.json naming every source), and drives the greedy soup:
 *
 *   Greedy soup (model-soups `main.py`, with the judge as the held-out score): rank the runs by
 *   their judged win rate against the base on the held-out prompts, start from the best, and for
 *   each next run try the uniform soup of the ingredients plus that run; keep it only when the judge
 *   prefers the trial soup's answers to the current soup's (win rate above 50%).
 *
 * The new run is `completed` with outputs.model, so `eval`, `compare`, `export` and `audit` treat it
 * like any other run. A failed merge leaves the new run `failed` with the reason.
 */
import { cpSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../protocol/messages";
import { runWorkerTask } from "../jobs/worker-task";
import { judgePairs, resolveJudge } from "../judge/run";
import { effectiveBase, lineagePath } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import type { RunStatus } from "../runs/types";
import { writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";
import { pairsOf, type EvalContext } from "../eval/eval";
import { generateAnswers, generateFrom, tunedWeights, type Answer } from "../eval/generations";
import { loadPrompts } from "../eval/prompts";
import { mean } from "../eval/stats";
import type { MergeOptions, MergeResult } from "./schema";

export { MergeOptionsSchema, MergeResultSchema, type MergeOptions, type MergeResult } from "./schema";

interface Source {
  run_id: string;
  name: string;
  path: string;
  kind: "adapter" | "model";
}

/** The runs' weights, or an error saying why they cannot be merged (not finished, different bases). */
export function mergeSources(store: RunStore, runIds: string[]): { base: string; sources: Source[] } {
  if (runIds.length === 0) throw new WhetstoneError({ code: "USAGE", message: "merge needs at least one run.", hint: "e.g. whetstone merge RUN1 RUN2 --method soup" });
  if (new Set(runIds).size !== runIds.length) throw new WhetstoneError({ code: "USAGE", message: `A run is named twice: ${runIds.join(", ")}.`, hint: "Name each run once." });
  const sources = runIds.map((r) => ({ run_id: r, name: store.get(r).name, ...tunedWeights(store, r, "merge") }));
  const bases = runIds.map((r) => resolve(effectiveBase(store, r)));
  const other = bases.findIndex((b) => b !== bases[0]);
  if (other > 0) {
    throw new WhetstoneError({
      code: "MERGE_DIFFERENT_BASES",
      message: `Runs ${runIds[0]} and ${runIds[other]} were trained from different base models (${bases[0]} and ${bases[other]}). Merging averages or adds weight differences from one shared base; weights of different models do not line up.`,
      hint: "Merge only runs fine-tuned from the same base model folder.",
    });
  }
  return { base: bases[0]!, sources };
}

function dtypeOf(modelPath: string): "bfloat16" | "float16" | "float32" {
  const config = JSON.parse(readFileSync(join(modelPath, "config.json"), "utf8")) as { dtype?: string; torch_dtype?: string };
  const d = config.dtype ?? config.torch_dtype;
  return d === "float32" || d === "float16" || d === "bfloat16" ? d : "bfloat16";
}

function mergeCommand(base: string, sources: Source[], method: "soup" | "dare", opts: MergeOptions, out: string): (id: string) => Command {
  return (id) => ({
    v: 1,
    type: "merge",
    id,
    model_path: base,
    sources: sources.map((s) => ({ path: s.path, kind: s.kind })),
    method,
    p: method === "dare" ? opts.p : 0,
    seed: opts.seed,
    dtype: dtypeOf(base),
    shard_size_mb: 5000,
    out_dir: out,
  });
}

export async function mergeRuns(ctx: EvalContext, runIds: string[], opts: MergeOptions, signal?: AbortSignal): Promise<MergeResult> {
  const { store } = ctx;
  const { base, sources } = mergeSources(store, runIds);
  if (opts.method === "greedy-soup" && runIds.length < 2) throw new WhetstoneError({ code: "USAGE", message: "A greedy soup needs at least two runs to choose from.", hint: "Name two or more runs, or use --method soup." });
  const first = store.config(runIds[0]!);
  const config = { ...first, name: opts.name ?? `${opts.method}-of-${runIds.length}` };
  const created = store.create(config);
  const runId = created.id;
  const dir = store.runDir(runId);
  cpSync(join(store.runDir(runIds[0]!), "data"), join(dir, "data"), { recursive: true });
  const lineage: Record<string, unknown> = {
    merged_from: sources,
    method: opts.method,
    ...(opts.method === "dare" ? { p: opts.p, seed: opts.seed } : {}),
    base_model: base,
    data_snapshot_from: runIds[0],
    created_at: new Date().toISOString(),
  };
  writeJsonAtomic(lineagePath(store, runId), lineage);
  ctx.publish({ type: "run", run: store.update(runId, { state: "running", phase: "merge", started_at: new Date().toISOString() }) });
  store.appendLog(runId, `merge (${opts.method}) of ${runIds.join(", ")}`);
  try {
    let chosen = sources;
    if (opts.method === "greedy-soup") {
      const greedy = await greedySoup(ctx, runId, base, sources, opts, signal);
      chosen = greedy.ingredients;
      Object.assign(lineage, { ingredients: chosen.map((s) => s.run_id), greedy: greedy.record });
    }
    const out = join(dir, "outputs", "model");
    rmSync(out, { recursive: true, force: true });
    const result = await runWorkerTask(ctx, runId, "merge", mergeCommand(base, chosen, opts.method === "dare" ? "dare" : "soup", opts, out), signal);
    Object.assign(lineage, { result, finished_at: new Date().toISOString() });
    writeJsonAtomic(lineagePath(store, runId), lineage);
    const run = store.update(runId, { state: "completed", phase: null, owner_pid: null, finished_at: new Date().toISOString(), outputs: { model: out } });
    ctx.publish({ type: "run", run });
    return { run, lineage };
  } catch (e) {
    const err = e instanceof WhetstoneError ? e : new WhetstoneError({ code: "INTERNAL", message: String(e), hint: "This is a bug in Whetstone." });
    const cancelled = err.code === "CANCELLED";
    const run: RunStatus = store.update(runId, { state: cancelled ? "cancelled" : "failed", phase: null, owner_pid: null, finished_at: new Date().toISOString(), error: cancelled ? null : { code: err.code, message: err.message, hint: err.hint, recoverable: false } });
    store.appendLog(runId, err.format());
    ctx.publish({ type: "run", run });
    throw err;
  } finally {
    rmSync(join(dir, "merge-trials"), { recursive: true, force: true });
  }
}

const winRate = (verdicts: { preference: number }[]) => 100 * mean(verdicts.map((v) => v.preference));

/** Greedy soup with the judge as the held-out score; returns the ingredients and every decision. */
async function greedySoup(ctx: EvalContext, runId: string, base: string, sources: Source[], opts: MergeOptions, signal?: AbortSignal) {
  const { store } = ctx;
  const prompts = await loadPrompts(store, runId, opts.prompts, opts.limit);
  const target = await resolveJudge({ judge: opts.judge, judgeModel: opts.judgeModel }, ctx.home, { signal });
  const judge = (model: Answer[], baseline: Answer[]) =>
    judgePairs(target, pairsOf(prompts, model, baseline), {
      signal,
      onProgress: (p) => ctx.publish({ type: "progress", runId, progress: { phase: "judge", current: p.done, total: p.total, unit: "pairs", elapsed_s: p.elapsed_s, eta_s: p.eta_s, message: `Greedy soup: judged ${p.done} of ${p.total} pairs` } }),
    });
  const ids = sources.map((s) => s.run_id);
  const answers = new Map<string, { base: Answer[]; tuned: Answer[] }>();
  for (const s of sources) {
    const a = await generateAnswers(ctx, s.run_id, ["base", "tuned"], prompts.prompts, prompts.source, opts, { signal, shareWith: ids });
    answers.set(s.run_id, { base: a.base!, tuned: a.tuned! });
  }
  const scores = new Map<string, number>();
  for (const s of sources) scores.set(s.run_id, winRate(await judge(answers.get(s.run_id)!.tuned, answers.get(s.run_id)!.base)));
  const order = [...sources].sort((a, b) => scores.get(b.run_id)! - scores.get(a.run_id)!);
  const ingredients = [order[0]!];
  let current = answers.get(order[0]!.run_id)!.tuned;
  const trials: Record<string, unknown>[] = [];
  for (const [k, candidate] of order.slice(1).entries()) {
    const trialDir = join(store.runDir(runId), "merge-trials", `trial-${k + 1}`);
    const tried = [...ingredients, candidate];
    await runWorkerTask(ctx, runId, "merge", mergeCommand(base, tried, "soup", opts, trialDir), signal);
    const trialAnswers = (await generateFrom(ctx, runId, base, { path: trialDir, kind: "model" }, ["tuned"], prompts.prompts, prompts.source, opts, { signal })).tuned!;
    const rate = winRate(await judge(trialAnswers, current));
    const accepted = rate > 50;
    trials.push({ add: candidate.run_id, ingredients: tried.map((s) => s.run_id), win_rate_vs_current_soup: rate, accepted });
    if (accepted) {
      ingredients.push(candidate);
      current = trialAnswers;
    }
    rmSync(trialDir, { recursive: true, force: true });
  }
  return {
    ingredients,
    record: { score: "judged win rate vs base on the held-out prompts", prompts: { source: prompts.source, used: prompts.prompts.length }, judge: target.name, scores: Object.fromEntries(scores), order: order.map((s) => s.run_id), trials },
  };
}
