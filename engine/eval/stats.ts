/**
 * Statistics of pairwise judgments, pure TypeScript and deterministic (seeded).
 *
 * A judgment is the judge's preference for the model over the baseline on one prompt, a number in
 * [0, 1]: P(model wins) + 0.5 · P(tie), averaged over both presentation orders. The win rate is its
 * mean (ties count half, as in AlpacaEval), with a percentile bootstrap interval over prompts.
 *
 * Length-controlled win rate (AlpacaEval 2.0, arXiv 2404.04475; ../../shared ALGORITHMS.md):
 *   P(model beats baseline | x) = logistic(θ + φ · tanh(Δlen / std(Δlen)) + ψ · γ_x)
 * with Δlen the difference of response lengths in characters, γ_x an instruction-difficulty term
 * and the LC win rate 100 × the mean prediction with φ's term set to zero. AlpacaEval fits γ_x once
 * from many models on its fixed instruction set; we have only the runs being compared, so γ_x is
 * the standardized logit of how the *other* judged models fared against the same baseline on x
 * (leave-one-out) when there are any, and 0 otherwise (then the term drops out). The fit is
 * maximum likelihood with soft labels by Newton's method with a small L2 penalty (1e-3) instead of
 * AlpacaEval's L1 + 5-fold cross-validation: with three parameters and hundreds of prompts the
 * penalty only guards against separation. Trade-off: without an instruction term fitted across many
 * models, the LC rate corrects for length but not for prompt mix.
 *
 * Ranking: Bradley–Terry strengths from soft pairwise wins by Hunter's MM algorithm, with half a
 * win each way per compared pair as a prior so a clean sweep stays finite.
 */

export interface Judgment {
  /** Preference for the model over the baseline, 0..1 (ties 0.5). */
  preference: number;
  modelLength: number;
  baselineLength: number;
  /** Instruction difficulty term (0: none). */
  difficulty?: number;
}

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

function std(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
}

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

const logistic = (z: number) => 1 / (1 + Math.exp(-z));

export interface LcFit {
  theta: number;
  phi: number;
  psi: number;
  /** std of Δlen used for the tanh scaling. */
  lengthScale: number;
}

/** Maximum-likelihood fit of the LC model with soft labels (Newton, L2 `penalty`). */
export function fitLengthControlled(judgments: readonly Judgment[], penalty = 1e-3): LcFit {
  const deltas = judgments.map((j) => j.modelLength - j.baselineLength);
  const scale = std(deltas) || 1;
  const rows = judgments.map((j, i) => [1, Math.tanh(deltas[i]! / scale), j.difficulty ?? 0] as const);
  const w = [0, 0, 0];
  for (let iter = 0; iter < 50; iter++) {
    const grad = [0, 0, 0].map((_, k) => penalty * w[k]!);
    const hess = [0, 1, 2].map((a) => [0, 1, 2].map((b) => (a === b ? penalty : 0)));
    rows.forEach((x, i) => {
      const p = logistic(x[0] * w[0]! + x[1] * w[1]! + x[2] * w[2]!);
      const r = p - judgments[i]!.preference;
      const s = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a < 3; a++) {
        grad[a]! += r * x[a]!;
        for (let b = 0; b < 3; b++) hess[a]![b]! += s * x[a]! * x[b]!;
      }
    });
    // An all-zero feature (no difficulty term) leaves its row with only the penalty: still solvable.
    const step = solve3(hess, grad);
    for (let k = 0; k < 3; k++) w[k]! -= step[k]!;
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  return { theta: w[0]!, phi: w[1]!, psi: w[2]!, lengthScale: scale };
}

function solve3(m: number[][], v: number[]): number[] {
  const a = m.map((row, i) => [...row, v[i]!]);
  for (let c = 0; c < 3; c++) {
    let pivot = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[pivot]![c]!)) pivot = r;
    [a[c], a[pivot]] = [a[pivot]!, a[c]!];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < 4; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  return a.map((row, i) => row[3]! / row[i]!);
}

/** Percent win rate with the length term zeroed, from a fit. */
export function lcWinRate(judgments: readonly Judgment[], fit = fitLengthControlled(judgments)): number {
  return 100 * mean(judgments.map((j) => logistic(fit.theta + fit.psi * (j.difficulty ?? 0))));
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
  return {
    n: judgments.length,
    win_rate: rate(judgments),
    win_rate_ci: bootstrap(judgments, rate, { resamples, seed }),
    lc_win_rate: lcWinRate(judgments),
    lc_win_rate_ci: bootstrap(judgments, (js) => lcWinRate(js), { resamples, seed: seed + 1 }),
    lc_fit: fitLengthControlled(judgments),
    wins: verdicts.filter((v) => v === "win").length,
    losses: verdicts.filter((v) => v === "loss").length,
    ties: verdicts.filter((v) => v === "tie").length,
    avg_length_model: mean(judgments.map((j) => j.modelLength)),
    avg_length_baseline: mean(judgments.map((j) => j.baselineLength)),
  };
}

/**
 * γ_x for each model's judgments: the standardized logit of the mean preference of the other models
 * against the same baseline on prompt x (leave-one-out); zeros when there is no other model.
 */
export function difficulties(preferencesByModel: readonly (readonly number[])[]): number[][] {
  const k = preferencesByModel.length;
  return preferencesByModel.map((own, m) => {
    if (k < 2) return own.map(() => 0);
    const raw = own.map((_, x) => {
      const others = preferencesByModel.filter((_, j) => j !== m).map((p) => p[x]!);
      const p = Math.min(0.99, Math.max(0.01, mean(others)));
      return Math.log(p / (1 - p));
    });
    const m0 = mean(raw);
    const s = std(raw) || 1;
    return raw.map((r) => (r - m0) / s);
  });
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
