/**
 * `whetstone synth` (issue #18): new training rows written by a model, appended to a JSONL file.
 *
 * magpie: the model continues its own pre-query template (arXiv 2406.08464) and so writes a user
 * instruction, which it then answers. fewshot (ALMA): the model sees k of the user's prompts and
 * writes another, at several temperatures, then answers it. glan (glan.ts, syllabus.ts): the model
 * drafts a syllabus per subject of a taxonomy (kept beside the output), then an instruction per
 * candidate over key concepts of one or two sessions, through its chat template, then answers it.
 * All run as worker `synth` commands
 * (whetstone_worker/jobs/synth.py) over numbered candidates; this module decides what each candidate
 * is shown, then filters (filters.ts), drops evaluation-prompt overlaps and near-duplicates of the
 * seeds and of earlier rows (text.ts), and appends what is left (output.ts) with its provenance.
 *
 * Candidates are asked for in rounds sized from the rows still missing (1.3 × plus a few), and a
 * round is stopped as soon as the file holds n rows, so a model whose candidates mostly pass loads
 * once. A rerun reads the file and starts at the candidate after the last one written: since a
 * candidate's text depends on the seed and its index only, and the duplicate index is rebuilt from
 * the file, a synthesis cut anywhere and resumed writes the same file as one that was never cut.
 * maxCandidates bounds a model whose output is mostly filtered (the report says so: complete false).
 *
 * With 2+ responses per prompt (select.ts) the answers come from the model and any other answerers
 * (model folders, runs) at their temperatures, the local judge scores them, and a round is written
 * only once judged (rounds.ts): the best answer, or best against worst as a preference pair.
 */
import { resolve } from "node:path";
import type { EngineEvent, ProgressInfo } from "../api/events";
import type { DeviceLock } from "../jobs/device-lock";
import { loadPrompts } from "../eval/prompts";
import { checkModel } from "../models/check";
import { resolveJudge } from "../judge/run";
import type { JudgeTarget } from "../judge/types";
import { effectiveBase, trainedWeights } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { WhetstoneError } from "../util/errors";
import { drawExamples, fewshotPrefix, loadSeeds, STOP_TEXTS, type SeedPrompt } from "./fewshot";
import { glanRequest, loadTaxonomy, type Course } from "./glan";
import { readExisting, RowWriter } from "./output";
import { selectRound, streamRound, type RoundContext } from "./rounds";
import type { SynthOptions, SynthReport } from "./schema";
import { responseSpecs, type Answerer } from "./select";
import { prepareCourses } from "./syllabus";
import { Contamination, NearDuplicates } from "./text";
import type { WorkerCandidate } from "./worker";

export interface SynthContext {
  store: RunStore;
  publish: (event: EngineEvent) => void;
  python?: string;
  env?: NodeJS.ProcessEnv;
  deviceLock?: DeviceLock;
}

interface Target {
  model: string;
  tuned: { path: string; kind: "adapter" | "model" } | null;
  run: string | null;
}

const DEFAULT_TEMPERATURES = { magpie: [1.0], fewshot: [0.7, 1.0, 1.3], glan: [1.0] };

export async function synthesize(ctx: SynthContext, opts: SynthOptions, signal?: AbortSignal): Promise<SynthReport> {
  const started = performance.now();
  checkOptions(opts);
  const target = resolveTarget(ctx, opts);
  const answerers: Answerer[] = [{ ...target, label: "model" }, ...responders(ctx, opts)];
  const specs = responseSpecs(opts, answerers.length);
  checkSpecs(opts, specs.length, answerers.length);
  const selecting = specs.length >= 2;
  const out = resolve(opts.out);
  const seeds = opts.method === "fewshot" ? await loadSeeds(resolve(opts.seeds!)) : [];
  const taxonomy = opts.method === "glan" ? loadTaxonomy(opts.taxonomy) : null;
  const evalTexts = await loadEvalTexts(ctx.store, opts);
  const existing = readExisting(out, { method: opts.method, model: target.model, run: target.run, seed: opts.seed, selection: selecting ? opts.select : undefined });
  const duplicates = new NearDuplicates<"seeds" | "rows">(opts.similarity);
  for (const s of seeds) duplicates.add(s.text, "seeds");
  for (const p of existing.prompts) duplicates.add(p, "rows");
  const contamination = new Contamination(opts.ngram, evalTexts);
  const publish = (progress: ProgressInfo) => ctx.publish({ type: "synth", out, progress });
  const judge = selecting ? await judgeFor(ctx, opts, publish, signal) : null;
  const report: SynthReport = {
    out,
    method: opts.method,
    model: target.model,
    run: target.run,
    seed: opts.seed,
    requested: opts.n,
    rows: existing.rows,
    resumed: existing.rows,
    written: 0,
    candidates: 0,
    next_index: existing.nextIndex,
    filtered: { empty: 0, truncated: 0, repeated: 0, refusal: 0 },
    duplicates: { seeds: 0, rows: 0 },
    decontaminated: 0,
    eval_prompts: contamination.size,
    complete: existing.rows >= opts.n,
    torn_line_removed: existing.tornLineRemoved,
    elapsed_s: 0,
    ...(judge
      ? {
          selection: {
            select: opts.select,
            responses: specs.length,
            sources: specs.map((s) => ({ source: answerers[s.answerer]!.label, temperature: s.temperature })),
            judge: judge.name,
            judged: 0,
            pairs_judged: 0,
            too_few_responses: 0,
            below_margin: 0,
            min_margin: opts.minMargin,
          },
        }
      : {}),
  };
  if (report.complete) return { ...report, elapsed_s: seconds(started) };

  const temperatures = opts.temperatures ?? DEFAULT_TEMPERATURES[opts.method];
  const budget = opts.maxCandidates ?? 5 * opts.n + 20;
  const cancelled = () =>
    new WhetstoneError({
      code: "CANCELLED",
      message: `The synthesis into ${out} was cancelled with ${report.rows} of ${opts.n} rows in the file (${report.written} written now).`,
      hint: "Run the same command again: it continues after the last row written.",
    });
  const release = ctx.deviceLock ? await ctx.deviceLock.acquire(`synthesis of ${out}`, { signal }).catch(() => { throw cancelled(); }) : () => {};
  const writer = new RowWriter(out);
  const shown = new Map<number, SeedPrompt[]>();
  let courses: Course[] = [];
  const round: RoundContext = {
    opts,
    report,
    writer,
    duplicates,
    contamination,
    enabled: new Set(opts.filters),
    stopTexts: opts.method === "fewshot" ? STOP_TEXTS : [],
    answerers,
    specs,
    judge,
    python: ctx.python,
    env: ctx.env,
    publish,
    signal,
    cancelled,
    started: performance.now(),
    provenance: (index) => ({
      method: opts.method,
      model: target.model,
      run: target.run,
      seed: opts.seed,
      index,
      temperature: temperatures[index % temperatures.length]!,
      response_temperature: null,
      ...(shown.has(index) ? { examples: shown.get(index)!.map((s) => s.where) } : {}),
      ...(taxonomy ? { taxonomy: { file: taxonomy.file, syllabus: report.syllabus?.file ?? null, ...glanRequest(courses, opts.seed, index).pick } } : {}),
    }),
  };
  try {
    if (taxonomy) {
      const prepared = await prepareCourses({ opts, out, writer: answerers[0]!, python: ctx.python, env: ctx.env, publish, signal, cancelled }, taxonomy.subjects);
      courses = prepared.courses;
      report.syllabus = prepared.counts;
    }
    while (report.rows < opts.n && report.candidates < budget) {
      if (signal?.aborted) throw cancelled();
      const size = Math.min(budget - report.candidates, Math.max(8, Math.ceil((opts.n - report.rows) * 1.3) + 4));
      const first = report.next_index;
      shown.clear();
      const candidates: WorkerCandidate[] = Array.from({ length: size }, (_, i) => {
        const index = first + i;
        const temperature = temperatures[index % temperatures.length]!;
        if (opts.method === "magpie") return { index, kind: "raw", prefix: null, temperature };
        if (taxonomy) return { index, kind: "chat", prefix: glanRequest(courses, opts.seed, index).request, temperature };
        const examples = drawExamples(seeds, opts.k, opts.seed, index);
        shown.set(index, examples);
        return { index, kind: "raw", prefix: fewshotPrefix(examples), temperature };
      });
      await (selecting ? selectRound : streamRound)(round, candidates);
      if (report.next_index === first && report.rows < opts.n) break; // the worker answered nothing: do not loop on it
    }
  } finally {
    writer.close();
    release();
  }
  return { ...report, complete: report.rows >= opts.n, elapsed_s: seconds(started) };
}

/** The judge for selection: a folder, a URL or the default (downloaded once, with progress). */
async function judgeFor(ctx: SynthContext, opts: SynthOptions, publish: (p: ProgressInfo) => void, signal?: AbortSignal): Promise<JudgeTarget> {
  return resolveJudge({ judge: opts.judge, judgeModel: opts.judgeModel }, ctx.store.home, {
    signal,
    onDownload: (d) => publish({ phase: "download", current: d.bytes, total: d.totalBytes, unit: "bytes", elapsed_s: d.elapsed_s, eta_s: d.eta_s, message: `Downloading the judge model (${d.file})` }),
  });
}

/** The other answerers: model folders, then runs (their trained weights on their base). */
function responders(ctx: SynthContext, opts: SynthOptions): Answerer[] {
  const folders = opts.responderModels.map((m) => ({ ...modelTarget(ctx, m, "responderModels"), label: resolve(m) }));
  const runs = opts.responderRuns.map((r) => {
    const runId = ctx.store.resolve(r);
    return { model: effectiveBase(ctx.store, runId), tuned: trainedWeights(ctx.store, runId, "answer with", "RUN_NOT_READY"), run: runId, label: runId };
  });
  return [...folders, ...runs];
}

function seconds(since: number): number {
  return Math.round(performance.now() - since) / 1000;
}

function checkOptions(opts: SynthOptions): void {
  const bad = (message: string, hint: string, where: string) => new WhetstoneError({ code: "SYNTH_INVALID", message, hint, where });
  if (opts.n <= 0) throw bad(`n is ${opts.n}: a synthesis needs at least one row to write.`, "Ask for N ≥ 1 rows with --n N (the output file is filled up to N).", "n");
  if ((opts.model === null) === (opts.run === null)) throw bad("Say which model writes the rows: a model folder or a run (one of them).", "Pass --model DIR or --model RUN.", "model");
  if (opts.method === "fewshot" && opts.seeds === null) throw bad("fewshot shows the model examples of your own prompts, and no seed file was given.", "Pass --seeds FILE (a dataset of your prompts), or use --method magpie.", "seeds");
  if (opts.method !== "fewshot" && opts.seeds !== null) throw bad(`${opts.method} does not read example prompts; --seeds is read by fewshot only.`, "Leave --seeds out, or use --method fewshot.", "seeds");
  if (opts.method !== "glan" && opts.taxonomy !== null) throw bad(`${opts.method} does not draw from a taxonomy; --taxonomy is read by glan only.`, "Leave --taxonomy out, or use --method glan.", "taxonomy");
  if (opts.method !== "glan" && opts.syllabus !== "keep") throw bad(`${opts.method} drafts no syllabus; --syllabus is read by glan only.`, "Leave --syllabus out, or use --method glan.", "syllabus");
  if (opts.k < 1) throw bad(`k is ${opts.k}: fewshot shows at least one example.`, "Use --k 1 or more (3 to 5 is usual).", "k");
  if (opts.responses !== null && opts.responses < 1) throw bad(`responses is ${opts.responses}: each prompt needs at least one answer.`, "Use --responses 2 or more to let the judge choose, or leave it out for one answer.", "responses");
}

function checkSpecs(opts: SynthOptions, responses: number, answerers: number): void {
  const bad = (message: string, hint: string, where: string) => new WhetstoneError({ code: "SYNTH_INVALID", message, hint, where });
  const sources = answerers * (opts.responseTemperatures ?? [opts.responseTemperature]).length;
  if (responses < sources) throw bad(`responses is ${responses}, fewer than the ${sources} response sources (models × temperatures): some would never answer.`, `Use --responses ${sources} or more, or fewer --responders / --response-temperatures.`, "responses");
  if (responses > 16) throw bad(`responses is ${responses}: the judge compares every two answers of a prompt, ${(responses * (responses - 1)) / 2} pairs each.`, "Use 16 responses or fewer (2 to 8 is usual).", "responses");
  if (responses < 2 && opts.select === "pairs") throw bad("A preference pair needs two answers to a prompt, and one was asked for.", "Pass --responses 2 or more (or several --response-temperatures or --responders).", "select");
}

function resolveTarget(ctx: SynthContext, opts: SynthOptions): Target {
  let target: Target;
  if (opts.run !== null) {
    const runId = ctx.store.resolve(opts.run);
    target = { model: effectiveBase(ctx.store, runId), tuned: trainedWeights(ctx.store, runId, "synthesize with", "RUN_NOT_READY"), run: runId };
  } else {
    target = modelTarget(ctx, opts.model!, "model");
  }
  if (opts.method !== "fewshot" || opts.maxNewTokens > 0) {
    const template = checkModel(target.model, { ...process.env, ...ctx.env }).checks.find((c) => c.item === "chat_template");
    if (template && !template.ok) {
      throw new WhetstoneError({
        code: "TEMPLATE_MISSING",
        message: `${target.model} has no chat template (no chat_template.jinja, none in tokenizer_config.json): ${opts.method === "magpie" ? "Magpie starts from the template's pre-query part, the text before a user's message" : opts.method === "glan" ? "GLAN asks the model for each instruction through its chat format" : "the new prompts cannot be answered in the model's chat format"}.`,
        hint: "Use a chat/instruct model (or a run trained from one), or add its chat_template.jinja to the folder.",
        where: target.model,
      });
    }
  }
  return target;
}

function modelTarget(ctx: SynthContext, folder: string, option: string): Target {
  const check = checkModel(folder, { ...process.env, ...ctx.env });
  const failed = check.checks.find((c) => !c.ok && c.required);
  if (failed) throw new WhetstoneError({ code: "MODEL_NOT_FOUND", message: `${folder}: ${failed.detail}`, hint: `Give ${option === "model" ? "--model" : "--responders"} a model folder (config.json, weights, tokenizer) or a finished run.`, where: folder });
  return { model: check.path, tuned: null, run: null };
}

/** The user turns of the evaluation prompts new rows must not overlap. */
async function loadEvalTexts(store: RunStore, opts: SynthOptions): Promise<string[]> {
  const texts: string[] = [];
  const add = (set: Awaited<ReturnType<typeof loadPrompts>>) => {
    for (const p of set.prompts) texts.push(p.messages.filter((m) => m.role === "user").map((m) => m.content).join("\n"));
  };
  if (opts.evalPrompts !== null) add(await loadPrompts(store, "", resolve(opts.evalPrompts), Number.MAX_SAFE_INTEGER));
  if (opts.evalRun !== null) add(await loadPrompts(store, store.resolve(opts.evalRun), null, Number.MAX_SAFE_INTEGER));
  return texts;
}
