/**
 * Early stopping for sweeps: after a warm-up share of its steps, a trial's first steps are read and it
 * is stopped (with a checkpoint, so it can still be resumed by hand) when
 *
 *  - its loss diverges: a non-finite loss, or a mean loss over the warm-up's last quarter above its
 *    first step's loss × diverge_ratio (a learning rate far too high), whatever the rule; or
 *  - ranked against the trials before it that reached their warm-up (at least min_compared of them),
 *    its score is worse than their (1 − stop_fraction) quantile: with 0.5, worse than their median
 *    (the median stopping rule of Google Vizier, Golovin et al. 2017). The score, lower better, is
 *      signals: the mean gradient norm over the warm-up steps: "Unveiling the Secret Recipe" (Pareja
 *               et al. 2024, arXiv 2412.13337) found that runs with lower gradient norms early on
 *               finish better; it needs no held-out data;
 *      val:     the validation loss at the first checkpoint at or after the warm-up step.
 *
 * Trials run one after another, so each is compared with those before it; the first trials can only be
 * stopped for diverging. Pure functions over metrics rows, so the rule is tested without training.
 */
import type { MetricsRow } from "../runs/store";
import type { SweepSpec, TrialSignals } from "./schema";

/** The step after which a trial of `totalSteps` steps is judged: the warm-up share, at least 1. */
export function warmupStep(totalSteps: number, warmup: number): number {
  return Math.max(1, Math.ceil(warmup * totalSteps));
}

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/**
 * The signals of a trial from its metrics rows, once they reach the decision point: the warm-up step
 * (val: the first row at or after it with a validation loss). null: not there yet.
 */
export function readSignals(rows: readonly MetricsRow[], totalSteps: number, spec: SweepSpec): TrialSignals | null {
  const w = warmupStep(totalSteps, spec.warmup);
  const at = spec.early_stop === "val" ? rows.find((r) => r.step >= w && finite(r.val_loss)) : rows.find((r) => r.step >= w);
  if (!at) return null;
  const window = rows.filter((r) => r.step <= at.step);
  const quarter = window.filter((r) => r.step > at.step - Math.max(1, Math.ceil(at.step / 4)));
  const losses = quarter.map((r) => r.loss);
  const loss = losses.some((l) => !finite(l)) ? Number.POSITIVE_INFINITY : mean(losses as number[]);
  const grad_norm = mean(window.map((r) => r.grad_norm).filter(finite));
  const val_loss = finite(at.val_loss) ? at.val_loss : null;
  const first = window[0]?.loss;
  return {
    step: at.step,
    first_loss: finite(first) ? first : null,
    loss,
    grad_norm,
    val_loss,
    score: spec.early_stop === "val" ? val_loss : spec.early_stop === "signals" ? grad_norm : null,
  };
}

/** The q-quantile (0..1) of `xs` with linear interpolation between the sorted values. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

const fmt = (x: number) => (Math.abs(x) >= 100 || Math.abs(x) < 0.01 ? x.toPrecision(3) : x.toFixed(3));

/** Stop the trial or not, and why (in words, for the sweep's page and report: "stopped early: <why>"). */
export function decide(signals: TrialSignals, earlier: readonly TrialSignals[], spec: SweepSpec): { stop: boolean; reason: string | null } {
  if (spec.early_stop === "off") return { stop: false, reason: null };
  const { loss, first_loss, step } = signals;
  if (loss === null || !Number.isFinite(loss)) return { stop: true, reason: `the loss was not finite within the first ${step} steps` };
  if (first_loss !== null && loss > first_loss * spec.diverge_ratio) {
    return { stop: true, reason: `the loss diverged, from ${fmt(first_loss)} at step 1 to ${fmt(loss)} around step ${step} (over ${spec.diverge_ratio}× its start)` };
  }
  const compared = earlier.map((e) => e.score).filter(finite);
  if (signals.score === null || compared.length < spec.min_compared) return { stop: false, reason: null };
  const bar = quantile(compared, 1 - spec.stop_fraction);
  if (signals.score <= bar) return { stop: false, reason: null };
  const what = spec.early_stop === "val" ? `validation loss ${fmt(signals.score)} at step ${step}` : `mean gradient norm ${fmt(signals.score)} over the first ${step} steps`;
  const which = spec.stop_fraction === 0.5 ? "the median" : `the ${Math.round((1 - spec.stop_fraction) * 100)}th percentile`;
  return { stop: true, reason: `its ${what} is worse than ${which} of the ${compared.length} trials before it (${fmt(bar)})` };
}
