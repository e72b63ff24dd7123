/**
 * The early-stop rule on metrics rows: divergence at any position, the median stopping rule by
 * gradient norm (signals) or validation loss (val), nothing before enough trials to compare with.
 */
import { describe, expect, it } from "vitest";
import { decide, quantile, readSignals, warmupStep } from "../../../engine/sweep/early-stop";
import { SweepSpecSchema, type SweepSpec, type TrialSignals } from "../../../engine/sweep/schema";

const spec = (over: Partial<SweepSpec> = {}): SweepSpec => ({ ...SweepSpecSchema.parse({}), ...over });
const rows = (losses: number[], grads: number[], val: Record<number, number> = {}) =>
  losses.map((loss, i) => ({ step: i + 1, loss, grad_norm: grads[i]!, total_steps: 12, ...(val[i + 1] !== undefined ? { val_loss: val[i + 1]! } : {}) }));
const earlier = (scores: number[]): TrialSignals[] => scores.map((score) => ({ step: 3, first_loss: 7, loss: 6, grad_norm: score, val_loss: null, score }));

describe("early stop", () => {
  it("reads the signals at the warm-up step (a quarter of 12 steps: step 3)", () => {
    expect(warmupStep(12, 0.25)).toBe(3);
    expect(warmupStep(2, 0.25)).toBe(1);
    const r = rows([7, 6.8, 6.5, 6.2], [2, 1.5, 1, 1]);
    expect(readSignals(r.slice(0, 2), 12, spec())).toBeNull(); // not there yet
    const s = readSignals(r, 12, spec())!;
    expect(s).toEqual({ step: 3, first_loss: 7, loss: 6.5, grad_norm: 1.5, val_loss: null, score: 1.5 });
  });

  it("stops a diverging trial even when it is the first", () => {
    const s = readSignals(rows([7, 9, 12], [3, 8, 20]), 12, spec())!;
    expect(decide(s, [], spec())).toEqual({ stop: true, reason: expect.stringMatching(/^the loss diverged, from 7.000 at step 1 to 12.000 around step 3 \(over 1.5× its start\)$/) });
    const nan = readSignals(rows([7, 6.9, Number.NaN], [1, 1, 1]), 12, spec())!;
    expect(decide(nan, [], spec())).toEqual({ stop: true, reason: "the loss was not finite within the first 3 steps" });
  });

  it("stops a trial worse than the median of those before it, once there are enough of them", () => {
    const s = readSignals(rows([7, 6.9, 6.8], [6, 6.3, 6.6]), 12, spec())!;
    expect(decide(s, earlier([1.2]), spec()).stop).toBe(false); // one trial to compare with: min_compared is 2
    const v = decide(s, earlier([1.1, 1.3]), spec());
    expect(v.stop).toBe(true);
    expect(v.reason).toBe("its mean gradient norm 6.300 over the first 3 steps is worse than the median of the 2 trials before it (1.200)");
    expect(decide(readSignals(rows([7, 6.9, 6.8], [1, 1.1, 1.2]), 12, spec())!, earlier([1.1, 1.3]), spec()).stop).toBe(false);
    expect(decide(s, earlier([1.1, 1.3]), spec({ early_stop: "off" }))).toEqual({ stop: false, reason: null });
  });

  it("ranks by validation loss with val, read at the first checkpoint at or after the warm-up", () => {
    const r = rows([7, 6.9, 6.8, 6.7, 6.6], [1, 1, 1, 1, 1], { 4: 6.9 });
    const s = readSignals(r.slice(0, 3), 12, spec({ early_stop: "val" }));
    expect(s).toBeNull(); // step 3 has no validation loss yet
    const at4 = readSignals(r, 12, spec({ early_stop: "val" }))!;
    expect(at4).toMatchObject({ step: 4, val_loss: 6.9, score: 6.9 });
    const v = decide(at4, earlier([6.1, 6.3, 6.2]).map((e) => ({ ...e, score: e.score })), spec({ early_stop: "val" }));
    expect(v.reason).toMatch(/^its validation loss 6.900 at step 4 is worse than the median of the 3 trials before it \(6.200\)/);
    // A stricter share: stop only the worst 25% (worse than the 75th percentile).
    expect(decide({ ...at4, score: 6.24 }, earlier([6.1, 6.3, 6.2]), spec({ early_stop: "val", stop_fraction: 0.25 })).stop).toBe(false);
    expect(decide({ ...at4, score: 6.24 }, earlier([6.1, 6.3, 6.2]), spec({ early_stop: "val", stop_fraction: 0.5 })).stop).toBe(true);
  });

  it("takes quantiles with linear interpolation", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4, 5], 0.75)).toBe(4);
    expect(quantile([7], 0.5)).toBe(7);
  });
});
