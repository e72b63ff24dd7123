/**
 * Response selection (issue #18): several answers per prompt, from one or more sources (the model
 * that wrote the prompt, other model folders and runs, each at one or more temperatures), scored by
 * the local judge and reduced to one row: the best answer (sft) or the best against the worst
 * (pairs, for dpo/simpo/orpo).
 *
 * Scoring is a round robin: every two usable answers are judged as a pair in both orders (as
 * `judgePairs` always does, cancelling position bias), and an answer's score is its mean preference
 * against the others (P(win) + ½ P(tie)), in [0, 1]. With n answers that is n(n−1)/2 pairs, 2 forward
 * passes each: fine for the 2–8 answers selection is for, quadratic beyond (a knockout tournament
 * would be n − 1 pairs, but one noisy verdict would eliminate the best answer; averaging over every
 * opponent is what makes a small judge usable). A pair's margin is best score minus worst score.
 *
 * Response j of a prompt comes from source j mod sources and samples with seed + index + 2^31 + j·2^24,
 * so response 0 is exactly the answer a synthesis without selection writes, and every answer depends
 * on its candidate, j and the seed only: resume and determinism hold as they do without selection.
 */
import { judgePairs } from "../judge/run";
import type { JudgeTarget, Pair } from "../judge/types";
import type { SynthOptions } from "./schema";

export const RESPONSE_SEED_OFFSET = 2 ** 31;
/** torch's CPU generator keeps only 32 bits of a seed: the strides stay below 2^32 (2^24 candidates apart, 16 responses at most). */
const RESPONSE_STRIDE = 2 ** 24;

export interface Answerer {
  model: string;
  tuned: { path: string; kind: "adapter" | "model" } | null;
  run: string | null;
  /** How provenance names it: "model" for the model that wrote the prompts, else the run id or the folder. */
  label: string;
}

export interface ResponseSpec {
  /** Response j of every prompt. */
  j: number;
  answerer: number;
  temperature: number;
  seed_offset: number;
}

/** Response j → its answerer (index into the answerers, 0 = the prompt writer) and its sampling. */
export function responseSpecs(opts: Pick<SynthOptions, "responses" | "responseTemperature" | "responseTemperatures">, answerers: number): ResponseSpec[] {
  const temperatures = opts.responseTemperatures ?? [opts.responseTemperature];
  const sources = answerers * temperatures.length;
  const count = opts.responses ?? sources;
  return Array.from({ length: count }, (_, j) => {
    const s = j % sources;
    return { j, answerer: Math.floor(s / temperatures.length), temperature: temperatures[s % temperatures.length]!, seed_offset: RESPONSE_SEED_OFFSET + j * RESPONSE_STRIDE };
  });
}

export interface Answer {
  j: number;
  text: string;
}

/** The judge's scores for one prompt's usable answers: each one's mean preference against the others. */
export interface Scored {
  scores: Map<number, number>;
  best: number;
  worst: number;
  margin: number;
}

/** Judge every two answers of every prompt (both orders), in one pass of the judge; scores per prompt, in input order. */
export async function scoreAll(
  target: JudgeTarget,
  prompts: { prompt: string; answers: Answer[] }[],
  opts: { onProgress?: (done: number, total: number, elapsed: number, eta: number | null) => void; signal?: AbortSignal; inProcess?: boolean },
): Promise<{ scored: Scored[]; pairs: number }> {
  const pairs: Pair[] = [];
  const owners: [number, number, number][] = [];
  prompts.forEach((p, k) => {
    for (let a = 0; a < p.answers.length; a++) {
      for (let b = a + 1; b < p.answers.length; b++) {
        pairs.push({ instruction: p.prompt, model: p.answers[a]!.text, baseline: p.answers[b]!.text });
        owners.push([k, a, b]);
      }
    }
  });
  const verdicts = pairs.length
    ? await judgePairs(target, pairs, { signal: opts.signal, inProcess: opts.inProcess, onProgress: (p) => opts.onProgress?.(p.done, p.total, p.elapsed_s, p.eta_s) })
    : [];
  const sums = prompts.map((p) => p.answers.map(() => 0));
  verdicts.forEach((v, i) => {
    const [k, a, b] = owners[i]!;
    sums[k]![a]! += v.preference;
    sums[k]![b]! += 1 - v.preference;
  });
  const scored = prompts.map((p, k) => pick(p.answers, sums[k]!.map((s) => s / Math.max(1, p.answers.length - 1))));
  return { scored, pairs: pairs.length };
}

/** Best: the highest score (the earlier answer on a tie); worst: the lowest (the later on a tie). */
export function pick(answers: Answer[], raw: number[]): Scored {
  const scores = raw.map(round); // what the file shows decides, so a reader recomputes the same choice
  let best = 0;
  let worst = answers.length - 1;
  scores.forEach((s, i) => {
    if (s > scores[best]!) best = i;
    if (s < scores[worst]!) worst = i;
  });
  return {
    scores: new Map(answers.map((a, i) => [a.j, scores[i]!])),
    best: answers[best]!.j,
    worst: answers[worst]!.j,
    margin: round(scores[best]! - scores[worst]!),
  };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
