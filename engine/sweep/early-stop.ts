/**
 * Early stopping for sweeps, as one rung of successive halving (Jamieson & Talwalkar 2016; the rung
 * of Hyperband, Li et al. 2018): every trial first trains a warm-up share of its steps and pauses
 * there with a checkpoint; then all of them are ranked at once, the weak ones are stopped, and the
 * rest resume (exactly: runs resume from their checkpoints) to the end. Ranking all the trials at
 * the same step makes the verdict independent of the order the grid lists them in. A trial is stopped
 *
 *  - at once, when its loss diverges: not finite, or its mean over the warm-up's last quarter above
 *    its first step's loss × diverge_ratio (a learning rate far too high); or
 *  - at the rung, when its score is worse than the (1 − stop_fraction) quantile of every trial's
 *    score (with 0.5: worse than their median; at least min_compared trials must have a score). The
 *    score, lower better, is
 *      signals: the training loss over the warm-up's last quarter (no held-out data needed);
 *      val:     the validation loss at the first checkpoint at or after the warm-up step.
 *
 * The mean gradient norm is read too and shown, but not ranked by: "Unveiling the Secret Recipe"
 * (Pareja et al. 2024, arXiv 2412.13337) found lower early gradient norms in runs that finish better,
 * but across learning rates the gradient norm grows with the rate itself, and in `npm run bench --
 * sweep` ranking by it stopped the trial with the best validation loss (bench/results/sweep.md).
 * Pure functions over metrics rows, so the rule is tested without training.
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
    score: spec.early_stop === "val" ? val_loss : spec.early_stop === "signals" ? loss : null,
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

/** Stop a trial at once for a diverging loss (whatever the rule but off), and why: "stopped early: <why>". */
export function diverged(signals: TrialSignals, spec: SweepSpec): string | null {
  if (spec.early_stop === "off") return null;
  const { loss, first_loss, step } = signals;
  if (loss === null || !Number.isFinite(loss)) return `the loss was not finite within the first ${step} steps`;
  if (first_loss !== null && loss > first_loss * spec.diverge_ratio) {
    return `the loss diverged, from ${fmt(first_loss)} at step 1 to ${fmt(loss)} around step ${step} (over ${spec.diverge_ratio}× its start)`;
  }
  return null;
}

/**
 * The rung: every trial that reached its warm-up, ranked together. Returns, for each trial index,
 * why it is stopped (absent: it goes on).
 */
export function rung(trials: readonly { index: number; signals: TrialSignals }[], spec: SweepSpec): Map<number, string> {
  const stops = new Map<number, string>();
  if (spec.early_stop === "off") return stops;
  const scored = trials.filter((t) => finite(t.signals.score));
  if (scored.length < spec.min_compared) return stops;
  const bar = quantile(scored.map((t) => t.signals.score!), 1 - spec.stop_fraction);
  const which = spec.stop_fraction === 0.5 ? "the median" : `the ${Math.round((1 - spec.stop_fraction) * 100)}th percentile`;
  for (const { index, signals } of scored) {
    if (signals.score! <= bar) continue;
    const what = spec.early_stop === "val" ? `validation loss ${fmt(signals.score!)} at step ${signals.step}` : `training loss ${fmt(signals.score!)} around step ${signals.step}`;
    stops.set(index, `its ${what} is worse than ${which} of the ${scored.length} trials (${fmt(bar)})`);
  }
  return stops;
}
