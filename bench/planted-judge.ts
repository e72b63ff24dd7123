/**
 * A tiny judge with a planted preference, for the sweep bench (issue #19). The random tiny judge of
 * the tests (tests/engine/eval/tiny-judge.ts) picks noise; this one is trained, by Whetstone itself,
 * to prefer an answer that is on task (an answer of the sweep's own dataset) over what an untrained
 * or a diverged model writes, so a sweep's pick means something.
 *
 * How it is made, every step through the engine's API:
 *  1. A source run: a full fine-tune of the tiny model on the sweep's data with the sweep's held-out
 *     split and seed, at learning rate 1.0 for a few steps (it diverges). Its data folder holds
 *     exactly the split every trial of the sweep gets (the split is a seeded hash of each row), so
 *     the judge's training rows come from its train.jsonl only and the prompts the sweep judges
 *     (validation.jsonl) are never in them. Its tuned side writes diverged answers, its base side
 *     the untrained model's (greedy and sampled).
 *  2. Pairs: each training prompt's dataset answer (cut to the sweep's answer length, as a trial's
 *     answer is cut) against eight kinds of bad answer: the untrained model's greedy and sampled
 *     answers, the diverged model's, one token repeated, random tokens, the answer's own words
 *     shuffled, nothing, and another prompt's answer (well formed but off task). Every pair is a
 *     chat row in the judge's own format (engine/judge/prompt.ts judgeMessages, the assistant
 *     answering "1" or "2"), in both orders, so the answer's position carries nothing.
 *  3. The judge: a full fine-tune of the tiny model on those rows (the verdict token is the only
 *     trained token that varies), exported to ONNX by the project's export code.
 *  4. Held-out pairs, built the same way from the held-out prompts, are kept beside the judge;
 *     measureJudge judges them in both orders through the engine's OnnxJudge.
 *
 * The trade-off: the preference is planted, not learned from people. It says "like the sweep's
 * data, on the instruction, not garbage", and nothing about which of two good answers is better:
 * a pick among trials that all answer well is as fine as the judge's margin between them.
 *
 * Built once into .cache/fixtures/planted-judge-onnx; the stamp (the builder's version, its recipe,
 * the tiny model's stamp, the data file's hash, the split) rebuilds it when any input changes.
 * Nothing in tests/ builds it: the bench does, on first use.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Engine } from "../engine/api/engine";
import type { RunStatus } from "../engine/runs/types";
import { pairsOf } from "../engine/eval/eval";
import { rng } from "../engine/eval/stats";
import { toPrompt, type EvalPrompt, type PromptSet } from "../engine/eval/prompts";
import { judgeMessages } from "../engine/judge/prompt";
import { judgePairs, resolveJudge } from "../engine/judge/run";
import { judgeTrust } from "../engine/judge/trust";
import type { Pair, PairVerdict } from "../engine/judge/types";
import { FIXTURES_DIR, TINY_MODEL, ensureTinyModel } from "../tests/helpers/fixture";
import { exportOnnx, markBuilt, takeBuildLock } from "../tests/helpers/onnx-build";

export const PLANTED_JUDGE = join(FIXTURES_DIR, "planted-judge-onnx");
const BUILD_HOME = join(FIXTURES_DIR, "planted-judge-build");
const MANIFEST = "planted.json";
/** Raise when the pairs or their rows change in a way RECIPE does not show: the judge is rebuilt. */
const BUILDER_VERSION = 1;

/** The sweep the judge is planted for: its data, its held-out split and seed, its answers' length. */
export interface PlantedFor {
  data: string;
  validationSplit: number;
  seed: number;
  maxNewTokens: number;
}

/** How the judge is made; part of its stamp. */
const RECIPE = {
  source: { finetune: "full", learning_rate: 1.0, max_steps: 8, micro_batch_size: 4 },
  sampled: { temperature: 1, seeds: [0, 1000] },
  draws: 2,
  judge: { finetune: "full", learning_rate: 1e-3, epochs: 3, micro_batch_size: 8, warmup_ratio: 0.05, max_length: 512 },
};

export const BAD_KINDS = ["untrained, greedy", "untrained, sampled", "diverged", "repetition", "random tokens", "shuffled words", "empty", "off task"] as const;
export type BadKind = (typeof BAD_KINDS)[number];

/** A held-out pair: the on-task answer and a bad one, for one prompt the judge never trained on. */
export interface HeldOutPair extends Pair {
  kind: BadKind;
  where: string;
}

interface Tokenizer {
  encode(text: string, opts?: Record<string, unknown>): number[];
  decode(ids: number[], opts?: Record<string, unknown>): string;
}

/** What is kept beside the judge: its held-out pairs, the prompts it trained on, how it was built. */
export interface PlantedManifest {
  held_out: HeldOutPair[];
  training_instructions: string[];
  build: { source_run: string; training_prompts: number; held_out_prompts: number; rows: number; steps: number; final_loss: number | null; seconds: number };
}

/** The planted judge for `target` (built on first use) and its manifest. */
export async function ensurePlantedJudge(target: PlantedFor, log: (line: string) => void = console.log): Promise<{ folder: string } & PlantedManifest> {
  const model = ensureTinyModel();
  const stamp = createHash("sha256")
    // The data by its content, not its path: another checkout sharing .cache finds the same judge.
    .update(JSON.stringify({ BUILDER_VERSION, RECIPE, target: { ...target, data: createHash("sha256").update(readFileSync(target.data)).digest("hex") }, model: readFileSync(join(model, ".whetstone-fixture.json"), "utf8") }))
    .digest("hex");
  const release = takeBuildLock(PLANTED_JUDGE, stamp, 1800);
  if (release) {
    try {
      await build(target, log);
      markBuilt(PLANTED_JUDGE, stamp);
    } finally {
      release();
    }
  }
  return { folder: PLANTED_JUDGE, ...(JSON.parse(readFileSync(join(PLANTED_JUDGE, MANIFEST), "utf8")) as PlantedManifest) };
}

async function build(target: PlantedFor, log: (line: string) => void): Promise<void> {
  const t0 = performance.now();
  const seconds = () => ((performance.now() - t0) / 1000).toFixed(0);
  rmSync(BUILD_HOME, { recursive: true, force: true });
  mkdirSync(BUILD_HOME, { recursive: true });
  const engine = new Engine({ home: BUILD_HOME });
  try {
    log(`planted judge: building into ${PLANTED_JUDGE} (once; rebuilt when the tiny model, the data or the recipe change)`);
    const source = await trainRun(
      engine,
      "planted-source",
      RECIPE.source.finetune,
      { train: target.data, max_length: 192, validation_split: target.validationSplit },
      { learning_rate: RECIPE.source.learning_rate, max_steps: RECIPE.source.max_steps, micro_batch_size: RECIPE.source.micro_batch_size, checkpoint_every: RECIPE.source.max_steps, seed: target.seed },
    );
    const runDir = engine.store.runDir(source.id);
    const train = promptsOf(join(runDir, "data", "train.jsonl"));
    const held = promptsOf(join(runDir, "data", "validation.jsonl"));
    const all = [...train, ...held];
    const generate = (sides: ("base" | "tuned")[], temperature: number, seed: number) =>
      engine.call("generate", { id: source.id, prompts: all.map((p) => p.messages), sides, maxNewTokens: target.maxNewTokens, temperature, seed });
    const greedy = await generate(["base", "tuned"], 0, 0);
    const sampled: Awaited<ReturnType<typeof generate>>[] = [];
    for (const seed of RECIPE.sampled.seeds) sampled.push(await generate(["base"], RECIPE.sampled.temperature, seed)); // one generation of a run at a time
    const texts = (a: { text: string }[] | undefined, from: number, to: number) => a!.slice(from, to).map((x) => x.text);
    const split = (from: number, to: number) => ({
      greedy: texts(greedy.outputs.base, from, to),
      diverged: texts(greedy.outputs.tuned, from, to),
      sampled: sampled.map((s) => texts(s.outputs.base, from, to)),
    });
    log(`planted judge: source run ${source.id} (diverged to loss ${source.last_loss?.toFixed(2)}), ${train.length} training and ${held.length} held-out prompts, answers generated (${seconds()} s)`);
    const tokenizer = await loadTokenizer();
    const trainPairs = badPairs(train, split(0, train.length), tokenizer, target.maxNewTokens, RECIPE.draws, 1);
    const heldOut = badPairs(held, split(train.length, all.length), tokenizer, target.maxNewTokens, 1, 2);
    const trained = new Set(trainPairs.map((p) => p.instruction));
    const leaked = heldOut.filter((p) => trained.has(p.instruction));
    if (leaked.length) throw new Error(`planted judge: ${leaked.length} held-out pairs have a prompt the judge would train on (first: ${leaked[0]!.where}); the split should keep them apart`);
    const rows = trainPairs.flatMap((p) => [row(p.instruction, p.model, p.baseline, "1"), row(p.instruction, p.baseline, p.model, "2")]);
    const rowsFile = join(BUILD_HOME, "judge-rows.jsonl");
    writeFileSync(rowsFile, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const judgeRun = await trainRun(
      engine,
      "planted-judge",
      RECIPE.judge.finetune,
      { train: rowsFile, max_length: RECIPE.judge.max_length, overlong: "error" },
      { learning_rate: RECIPE.judge.learning_rate, epochs: RECIPE.judge.epochs, micro_batch_size: RECIPE.judge.micro_batch_size, warmup_ratio: RECIPE.judge.warmup_ratio, checkpoint_every: 100_000, seed: 0 },
    );
    log(`planted judge: trained on ${rows.length} rows (${trainPairs.length} pairs, both orders): ${judgeRun.step} steps, final loss ${judgeRun.last_loss?.toFixed(4)} (${seconds()} s)`);
    exportOnnx(TINY_MODEL, PLANTED_JUDGE, { tuned: judgeRun.outputs.model!, name: "planted-judge" });
    const manifest: PlantedManifest = {
      held_out: heldOut,
      training_instructions: [...new Set(trainPairs.map((p) => p.instruction))],
      build: { source_run: source.id, training_prompts: train.length, held_out_prompts: held.length, rows: rows.length, steps: judgeRun.step, final_loss: judgeRun.last_loss, seconds: Math.round((performance.now() - t0) / 1000) },
    };
    writeFileSync(join(PLANTED_JUDGE, MANIFEST), JSON.stringify(manifest, null, 1) + "\n");
    log(`planted judge: exported to ONNX (${seconds()} s)`);
  } finally {
    await engine.close();
  }
}

/** A run of the tiny model (no NEFTune) in the build's home, trained to its end. */
async function trainRun(engine: Engine, name: string, finetune: string, data: Record<string, unknown>, training: Record<string, unknown>): Promise<RunStatus> {
  const run = await engine.call("createRun", { config: { name, model: { path: TINY_MODEL }, finetune, data, training: { ...training, neftune_alpha: 0 } }, baseDir: BUILD_HOME });
  const done = await engine.call("awaitRun", { id: run.id });
  if (done.state !== "completed") throw new Error(`planted judge: run ${run.id} ended ${done.state}: ${done.error?.message ?? "no error recorded"} (see ${join(engine.store.runDir(run.id), "log.txt")})`);
  return done;
}

function promptsOf(file: string): EvalPrompt[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line, i) => {
      if (!line.trim()) return [];
      const p = toPrompt((JSON.parse(line) as { messages: { role: string; content: string }[] }).messages, `${file}:${i + 1}`);
      return p && p.reference ? [p] : [];
    });
}

async function loadTokenizer(): Promise<Tokenizer> {
  const { AutoTokenizer, env } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  return (await AutoTokenizer.from_pretrained(TINY_MODEL, { local_files_only: true })) as unknown as Tokenizer;
}

/**
 * Each prompt's on-task answer (its dataset answer, cut to `maxTokens` tokens as a trial's answer
 * is) against each kind of bad answer; the synthetic kinds `draws` times each.
 */
function badPairs(
  prompts: EvalPrompt[],
  generated: { greedy: string[]; diverged: string[]; sampled: string[][] },
  tokenizer: Tokenizer,
  maxTokens: number,
  draws: number,
  seed: number,
): HeldOutPair[] {
  const rand = rng(seed); // seeded: the same pairs on every build
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const encode = (t: string) => tokenizer.encode(t, { add_special_tokens: false });
  const cut = (t: string) => tokenizer.decode(encode(t).slice(0, maxTokens), { skip_special_tokens: true });
  const answers = prompts.map((p) => cut(p.reference!));
  const answerTokens = [...new Set(answers.flatMap(encode))];
  const vocab = (JSON.parse(readFileSync(join(TINY_MODEL, "config.json"), "utf8")) as { vocab_size: number }).vocab_size;
  const instructions = pairsOf({ source: "", prompts, available: prompts.length } satisfies PromptSet, prompts.map(() => ({ text: "", tokens: 0, finish: "stop" })), prompts.map(() => ({ text: "", tokens: 0, finish: "stop" }))).map((p) => p.instruction);
  const out: HeldOutPair[] = [];
  prompts.forEach((p, i) => {
    const good = answers[i]!;
    const add = (kind: BadKind, bad: string) => {
      if (bad.trim() !== good.trim()) out.push({ instruction: instructions[i]!, model: good, baseline: bad, kind, where: p.where });
    };
    add("untrained, greedy", generated.greedy[i]!);
    add("diverged", generated.diverged[i]!);
    add("empty", "");
    for (const s of generated.sampled.slice(0, Math.max(1, draws))) add("untrained, sampled", s[i]!);
    for (let d = 0; d < draws; d++) {
      const n = 4 + Math.floor(rand() * (maxTokens - 3));
      const token = pick(answerTokens);
      add("repetition", tokenizer.decode(Array.from({ length: n }, () => token)));
      add("random tokens", tokenizer.decode(Array.from({ length: n }, () => 4 + Math.floor(rand() * (vocab - 4)))));
      const words = good.split(/\s+/).filter(Boolean);
      for (let k = words.length - 1; k > 0; k--) {
        const j = Math.floor(rand() * (k + 1));
        [words[k], words[j]] = [words[j]!, words[k]!];
      }
      add("shuffled words", words.join(" "));
      add("off task", pick(answers.filter((_, j) => j !== i)));
    }
  });
  return out;
}

function row(instruction: string, first: string, second: string, verdict: "1" | "2") {
  return { messages: [...judgeMessages(instruction, first, second), { role: "assistant", content: verdict }] };
}

export interface JudgeMeasure {
  judge: string;
  pairs: number;
  /** Share of pairs whose preference for the on-task answer is above one half (both orders averaged). */
  accuracy: number;
  /** 95% Wilson interval of the accuracy. */
  accuracy_ci: { low: number; high: number };
  mean_preference: number;
  /** Mean distance of the preference from one half: how decided the judge is, whichever way. */
  mean_margin: number;
  /** How often the two orders agree on the winner. */
  position_consistency: number;
  by_kind: { kind: BadKind; pairs: number; accuracy: number; mean_preference: number }[];
}

/** Judge the held-out pairs in both orders through the engine's ONNX judge; how often it prefers the on-task answer. */
export async function measureJudge(folder: string, pairs: HeldOutPair[]): Promise<JudgeMeasure> {
  const target = await resolveJudge({ judge: folder }, BUILD_HOME); // a folder given: the home (for the default judge) is not read
  const verdicts = await judgePairs(target, pairs, { inProcess: true });
  const summarize = (vs: PairVerdict[]) => ({ pairs: vs.length, accuracy: vs.filter((v) => v.preference > 0.5).length / vs.length, mean_preference: vs.reduce((a, v) => a + v.preference, 0) / vs.length });
  const all = summarize(verdicts);
  return {
    judge: folder,
    ...all,
    accuracy_ci: wilson(all.accuracy, all.pairs),
    mean_margin: verdicts.reduce((a, v) => a + Math.abs(v.preference - 0.5), 0) / verdicts.length,
    position_consistency: judgeTrust(verdicts).position_consistency,
    by_kind: BAD_KINDS.map((kind) => ({ kind, ...summarize(verdicts.filter((_, i) => pairs[i]!.kind === kind)) })).filter((k) => k.pairs > 0),
  };
}

function wilson(p: number, n: number): { low: number; high: number } {
  const z = 1.96;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return { low: centre - half, high: centre + half };
}
