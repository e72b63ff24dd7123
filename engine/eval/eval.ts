/**
 * Evaluation, engine side: answers from the worker (generations.ts), verdicts from the judge
 * (../judge, on a worker thread), statistics (stats.ts), and the reports, written atomically into
 * every run involved once complete:
 *
 *   reports/eval-base.json + .md        a run against its base model
 *   reports/eval-vs-<run>.json + .md    a run against another run (also stored in that run)
 *   reports/compare.json + .md          the last `compare` that included the run
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProgressInfo } from "../api/events";
import type { TaskContext } from "../jobs/worker-task";
import { judgePairs, resolveJudge } from "../judge/run";
import { CRITERIA, VERDICTS } from "../judge/prompt";
import type { JudgeTarget, Pair, PairVerdict } from "../judge/types";
import { effectiveBase } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";
import { generateAnswers, type Answer, type GenerationSettings } from "./generations";
import { loadPrompts, type PromptSet } from "./prompts";
import { formatCompare, formatEval } from "./report";
import type { CompareOptions, CompareReport, EvalOptions, EvalReport } from "./schema";
import { judgeTrust } from "../judge/trust";
import { LC_METHOD } from "./report";
import { bradleyTerry, mean, summarize, type Judgment } from "./stats";

export interface EvalContext extends TaskContext {
  home: string;
}

const TEXT_CHARS = 2000; // each text in the per-prompt rows (lengths and verdicts use the whole text)
const short = (t: string) => (t.length > TEXT_CHARS ? `${t.slice(0, TEXT_CHARS - 1)}…` : t);

import { comparePaths, evalPaths } from "./stored";

export { comparePaths, evalPaths, loadCompareReport, loadEvalReport } from "./stored";

function settingsOf(opts: GenerationSettings): GenerationSettings {
  return { maxNewTokens: opts.maxNewTokens, temperature: opts.temperature, topP: opts.topP, seed: opts.seed };
}

function progress(ctx: EvalContext, runId: string, p: ProgressInfo): void {
  ctx.publish({ type: "progress", runId, progress: p });
}

/** Resolve the judge (downloading the default once, with progress) and describe it for the report. */
async function judgeFor(ctx: EvalContext, runId: string, opts: Pick<EvalOptions, "judge" | "judgeModel">, signal?: AbortSignal): Promise<{ target: JudgeTarget; info: Record<string, unknown> }> {
  const target = await resolveJudge({ judge: opts.judge, judgeModel: opts.judgeModel }, ctx.home, {
    signal,
    onDownload: (d) =>
      progress(ctx, runId, { phase: "download", current: d.bytes, total: d.totalBytes, unit: "bytes", elapsed_s: d.elapsed_s, eta_s: d.eta_s, message: `Downloading the judge model (${d.file})` }),
  });
  const info = {
    kind: target.kind,
    name: target.name,
    source: target.kind === "onnx" ? target.path : target.url,
    ...(target.kind === "onnx" ? { file: target.file } : { model: target.model }),
    criteria: CRITERIA,
    verdict_tokens: VERDICTS,
    orders: "both (model first, then baseline first), averaged",
  };
  return { target, info };
}

async function judge(ctx: EvalContext, runId: string, target: JudgeTarget, pairs: Pair[], signal?: AbortSignal): Promise<PairVerdict[]> {
  return judgePairs(target, pairs, {
    signal,
    onProgress: (p) => progress(ctx, runId, { phase: "judge", current: p.done, total: p.total, unit: "pairs", elapsed_s: p.elapsed_s, eta_s: p.eta_s, message: `Judged ${p.done} of ${p.total} pairs (both orders each)` }),
  });
}

/** The judge's pairs: each prompt with the model's and the baseline's answer. */
export function pairsOf(prompts: PromptSet, model: Answer[], baseline: Answer[]): Pair[] {
  return prompts.prompts.map((p, i) => ({ instruction: instructionText(p.messages), model: model[i]!.text, baseline: baseline[i]!.text }));
}

/** The conversation as the judge sees it: the last user turn, with earlier turns quoted before it. */
function instructionText(messages: { role: string; content: string }[]): string {
  if (messages.length === 1) return messages[0]!.content;
  return messages.map((m) => `[${m.role}] ${m.content}`).join("\n");
}

interface Side {
  label: string;
  run_id: string | null;
  side: "base" | "tuned";
  model_path: string;
}

function buildMatch(prompts: PromptSet, model: Side, baseline: Side, modelAnswers: Answer[], baselineAnswers: Answer[], verdicts: PairVerdict[], resamples: number) {
  const judgments: Judgment[] = verdicts.map((v, i) => ({ preference: v.preference, modelLength: modelAnswers[i]!.text.length, baselineLength: baselineAnswers[i]!.text.length }));
  const summary = {
    ...summarize(judgments, verdicts.map((v) => v.verdict), { resamples }),
    avg_tokens_model: mean(modelAnswers.map((a) => a.tokens)),
    avg_tokens_baseline: mean(baselineAnswers.map((a) => a.tokens)),
    verdict_mass_mean: mean(verdicts.flatMap((v) => [v.orders.model_first.mass, v.orders.baseline_first.mass])),
    lc_method: LC_METHOD,
    judge_trust: judgeTrust(verdicts),
  };
  const perPrompt = prompts.prompts.map((p, i) => ({
    index: i,
    where: p.where,
    instruction: short(instructionText(p.messages)),
    model: short(modelAnswers[i]!.text),
    baseline: short(baselineAnswers[i]!.text),
    model_length: modelAnswers[i]!.text.length,
    baseline_length: baselineAnswers[i]!.text.length,
    model_finish: modelAnswers[i]!.finish,
    baseline_finish: baselineAnswers[i]!.finish,
    ...verdicts[i]!,
  }));
  return { model, baseline, summary, per_prompt: perPrompt };
}

function saveReport(store: RunStore, runIds: string[], against: (runId: string) => string, report: EvalReport): void {
  for (const runId of runIds) {
    const paths = evalPaths(store, runId, against(runId));
    writeJsonAtomic(paths.json, report);
    writeFileAtomic(paths.markdown, formatEval(report) + "\n");
  }
}

/** Judge `runId` against its base or another run; the report is stored in every run involved. */
export async function evalRun(ctx: EvalContext, runId: string, opts: EvalOptions, signal?: AbortSignal): Promise<EvalReport> {
  const { store } = ctx;
  const t0 = Date.now();
  const other = opts.against === "base" ? null : store.resolve(opts.against);
  if (other === runId) throw new WhetstoneError({ code: "USAGE", message: `Run ${runId} cannot be evaluated against itself.`, hint: "Use --against base or another run." });
  const prompts = await loadPrompts(store, runId, opts.prompts, opts.limit);
  const settings = settingsOf(opts);
  const { target, info } = await judgeFor(ctx, runId, opts, signal); // fail fast (offline, bad path) before generating
  const own = await generateAnswers(ctx, runId, other ? ["tuned"] : ["base", "tuned"], prompts.prompts, prompts.source, settings, { signal, shareWith: other ? [other] : [] });
  const baselineAnswers = other ? (await generateAnswers(ctx, other, ["tuned"], prompts.prompts, prompts.source, settings, { signal, shareWith: [runId] })).tuned! : own.base!;
  const generatedS = (Date.now() - t0) / 1000;
  const verdicts = await judge(ctx, runId, target, pairsOf(prompts, own.tuned!, baselineAnswers), signal);
  const modelPath = effectiveBase(store, runId);
  const model: Side = { label: runId, run_id: runId, side: "tuned", model_path: modelPath };
  const baseline: Side = other ? { label: other, run_id: other, side: "tuned", model_path: effectiveBase(store, other) } : { label: `base (${modelPath})`, run_id: null, side: "base", model_path: modelPath };
  const match = buildMatch(prompts, model, baseline, own.tuned!, baselineAnswers, verdicts, opts.resamples);
  const report = {
    run_id: runId,
    created_at: new Date().toISOString(),
    against: other ?? "base",
    ...match,
    prompts: { source: prompts.source, used: prompts.prompts.length, available: prompts.available },
    generation: { max_new_tokens: settings.maxNewTokens, temperature: settings.temperature, top_p: settings.topP, seed: settings.seed, decoding: settings.temperature > 0 ? "sampling" : "greedy" },
    judge: info,
    timing: { generate_s: generatedS, judge_s: (Date.now() - t0) / 1000 - generatedS, total_s: (Date.now() - t0) / 1000 },
  } as unknown as EvalReport;
  saveReport(store, other ? [runId, other] : [runId], (id) => (id === runId ? (other ?? "base") : runId), report);
  return report;
}

/**
 * Judge several runs against their bases and against each other on the same prompts (the first
 * run's held-out split, or --prompts), rank them by Bradley–Terry strength and mark the best run.
 * Every run gets its eval-base report and the comparison.
 */
export async function compareRuns(ctx: EvalContext, runIds: string[], opts: CompareOptions, signal?: AbortSignal): Promise<CompareReport> {
  const { store } = ctx;
  if (new Set(runIds).size !== runIds.length || runIds.length < 2) throw new WhetstoneError({ code: "USAGE", message: "compare needs at least two different runs.", hint: "e.g. whetstone compare RUN1 RUN2 RUN3" });
  const t0 = Date.now();
  const prompts = await loadPrompts(store, runIds[0]!, opts.prompts, opts.limit);
  const settings = settingsOf(opts);
  const { target, info } = await judgeFor(ctx, runIds[0]!, opts, signal);
  const answers = new Map<string, { base: Answer[]; tuned: Answer[] }>();
  for (const runId of runIds) {
    const a = await generateAnswers(ctx, runId, ["base", "tuned"], prompts.prompts, prompts.source, settings, { signal, shareWith: runIds.filter((r) => r !== runId) });
    answers.set(runId, { base: a.base!, tuned: a.tuned! });
  }
  const baseOf = (r: string) => effectiveBase(store, r);
  const matches: { model: string; baseline: string | null; answers: [Answer[], Answer[]] }[] = [];
  for (const r of runIds) matches.push({ model: r, baseline: null, answers: [answers.get(r)!.tuned, answers.get(r)!.base] });
  for (let i = 0; i < runIds.length; i++) for (let j = i + 1; j < runIds.length; j++) matches.push({ model: runIds[i]!, baseline: runIds[j]!, answers: [answers.get(runIds[i]!)!.tuned, answers.get(runIds[j]!)!.tuned] });
  const all = await judge(ctx, runIds[0]!, target, matches.flatMap((m) => pairsOf(prompts, m.answers[0], m.answers[1])), signal);
  const n = prompts.prompts.length;
  const verdictsOf = (k: number) => all.slice(k * n, (k + 1) * n);
  const side = (r: string | null, model: string): Side => (r ? { label: r, run_id: r, side: "tuned", model_path: baseOf(r) } : { label: `base (${model})`, run_id: null, side: "base", model_path: model });
  const built = matches.map((m, k) => buildMatch(prompts, side(m.model, baseOf(m.model)), side(m.baseline, baseOf(m.model)), m.answers[0], m.answers[1], verdictsOf(k), opts.resamples));
  // Bradley–Terry over the runs and their bases (one player per distinct base model).
  const players = [...new Set(runIds.map((r) => `base (${baseOf(r)})`)), ...runIds];
  const wins = players.map(() => players.map(() => 0));
  built.forEach((m) => {
    const a = players.indexOf(m.model.label);
    const b = players.indexOf(m.baseline.label);
    const p = m.per_prompt.reduce((s, x) => s + x.preference, 0);
    wins[a]![b]! += p;
    wins[b]![a]! += m.per_prompt.length - p;
  });
  const strength = bradleyTerry(wins);
  const ranking = players
    .map((label, i) => ({ label, run_id: runIds.includes(label) ? label : null, strength: strength[i]! }))
    .sort((x, y) => y.strength - x.strength)
    .map((x, i) => ({ ...x, rank: i + 1 }));
  const best = ranking.find((r) => r.run_id !== null)?.run_id ?? null;
  const created = new Date().toISOString();
  for (const r of runIds) {
    const m = built[runIds.indexOf(r)]!;
    const report = { run_id: r, created_at: created, against: "base", ...m, prompts: { source: prompts.source, used: n, available: prompts.available }, generation: { max_new_tokens: settings.maxNewTokens, temperature: settings.temperature, top_p: settings.topP, seed: settings.seed }, judge: info, from_compare: runIds } as unknown as EvalReport;
    saveReport(store, [r], () => "base", report);
  }
  const report = {
    created_at: created,
    runs: runIds,
    ranking,
    best,
    method: "Bradley–Terry strengths from soft wins (preference summed over prompts), each run vs its base and every pair of runs",
    matches: built.map((m) => ({ model: m.model.label, baseline: m.baseline.label, summary: m.summary })),
    prompts: { source: prompts.source, used: n, available: prompts.available },
    generation: { max_new_tokens: settings.maxNewTokens, temperature: settings.temperature, top_p: settings.topP, seed: settings.seed },
    judge: info,
    timing: { total_s: (Date.now() - t0) / 1000 },
  } as CompareReport;
  for (const r of runIds) {
    const paths = comparePaths(store, r);
    writeJsonAtomic(paths.json, report);
    writeFileAtomic(paths.markdown, formatCompare(report) + "\n");
  }
  return report;
}
