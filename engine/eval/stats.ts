/**
 * Statistics of pairwise judgments, pure TypeScript and deterministic (seeded).
 *
 * A judgment is the judge's preference for the model over the baseline on one prompt, a number in
 * [0, 1]: P(model wins) + 0.5 · P(tie), averaged over both presentation orders. The win rate is its
 * mean (ties count half, as in AlpacaEval), with a percentile bootstrap interval over prompts.
 *
 * Length-controlled win rate: ./lc.ts (a two-term fit with a prior on the length slope, checked
 * against AlpacaEval 2.0's published leaderboard).
 *
 * Ranking: Bradley–Terry strengths from soft pairwise wins by Hunter's MM algorithm, with half a
 * win each way per compared pair as a prior so a clean sweep stays finite.
 */

import { fitLengthControlled, lcWinRate, type LcFit, type LengthJudgment } from "./lc";

export { fitLengthControlled, lcWinRate, type LcFit };

export type Judgment = LengthJudgment;

export interface Interval {
  low: number;
  high: number;
}

/** Small, fast, seeded PRNG (mulberry32): the same seed gives the same bootstrap. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Percentile bootstrap over items: `stat` of `resamples` resampled lists, middle `level`. */
export function bootstrap<T>(items: readonly T[], stat: (sample: T[]) => number, { resamples = 1000, level = 0.95, seed = 0 } = {}): Interval {
  const random = rng(seed);
  const values: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const sample = Array.from({ length: items.length }, () => items[Math.floor(random() * items.length)]!);
    const v = stat(sample);
    if (Number.isFinite(v)) values.push(v);
  }
  values.sort((x, y) => x - y);
  return { low: quantile(values, (1 - level) / 2), high: quantile(values, 1 - (1 - level) / 2) };
}

export interface WinRateSummary {
  n: number;
  /** Percent, ties half. */
  win_rate: number;
  win_rate_ci: Interval;
  lc_win_rate: number;
  lc_win_rate_ci: Interval;
  lc_fit: LcFit;
  wins: number;
  losses: number;
  ties: number;
  avg_length_model: number;
  avg_length_baseline: number;
}

/** Everything the report states about one model vs one baseline. Verdicts are counted from `verdicts`. */
export function summarize(judgments: readonly Judgment[], verdicts: readonly ("win" | "loss" | "tie")[], { resamples = 1000, seed = 0 } = {}): WinRateSummary {
  const rate = (js: readonly Judgment[]) => 100 * mean(js.map((j) => j.preference));
  const fit = fitLengthControlled(judgments);
  return {
    n: judgments.length,
    win_rate: rate(judgments),
    win_rate_ci: bootstrap(judgments, rate, { resamples, seed }),
    lc_win_rate: lcWinRate(judgments, fit),
    lc_win_rate_ci: bootstrap(judgments, (js) => lcWinRate(js), { resamples, seed: seed + 1 }),
    lc_fit: fit,
    wins: verdicts.filter((v) => v === "win").length,
    losses: verdicts.filter((v) => v === "loss").length,
    ties: verdicts.filter((v) => v === "tie").length,
    avg_length_model: mean(judgments.map((j) => j.modelLength)),
    avg_length_baseline: mean(judgments.map((j) => j.baselineLength)),
  };
}

/** Bradley–Terry strengths (sum 1) from a matrix of soft wins: wins[i][j] = how often i beat j. */
export function bradleyTerry(wins: readonly (readonly number[])[], iterations = 1000): number[] {
  const k = wins.length;
  const w = wins.map((row, i) => row.map((x, j) => (i === j ? 0 : x + (wins[i]![j]! + wins[j]![i]! > 0 ? 0.5 : 0))));
  let p = Array<number>(k).fill(1 / k);
  for (let it = 0; it < iterations; it++) {
    const next = p.map((pi, i) => {
      const total = w[i]!.reduce((a, b) => a + b, 0);
      let denom = 0;
      for (let j = 0; j < k; j++) if (j !== i) denom += (w[i]![j]! + w[j]![i]!) / (pi + p[j]!);
      return denom > 0 ? total / denom : pi;
    });
    const sum = next.reduce((a, b) => a + b, 0);
    const normalized = next.map((x) => x / sum);
    const change = Math.max(...normalized.map((x, i) => Math.abs(x - p[i]!)));
    p = normalized;
    if (change < 1e-12) break;
  }
  return p;
}
