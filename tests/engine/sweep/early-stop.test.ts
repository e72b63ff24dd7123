/**
 * The early-stop rule on metrics rows: a diverging loss stops a trial at once; the rung ranks every
 * trial at its warm-up together (whatever their order) and stops those worse than the median, by
 * training loss (signals) or validation loss (val); with too few trials it stops none.
 */
import { describe, expect, it } from "vitest";
import { diverged, quantile, readSignals, rung, warmupStep } from "../../../engine/sweep/early-stop";
import { SweepSpecSchema, type SweepSpec, type TrialSignals } from "../../../engine/sweep/schema";

const spec = (over: Partial<SweepSpec> = {}): SweepSpec => ({ ...SweepSpecSchema.parse({}), ...over });
const rows = (losses: number[], grads: number[], val: Record<number, number> = {}) =>
  losses.map((loss, i) => ({ step: i + 1, loss, grad_norm: grads[i]!, total_steps: 12, ...(val[i + 1] !== undefined ? { val_loss: val[i + 1]! } : {}) }));
const scored = (scores: number[]): { index: number; signals: TrialSignals }[] =>
  scores.map((score, i) => ({ index: i + 1, signals: { step: 3, first_loss: 7.3, loss: score, grad_norm: 1, val_loss: null, score } }));

describe("early stop", () => {
  it("reads the signals at the warm-up step (a quarter of 12 steps: step 3)", () => {
    expect(warmupStep(12, 0.25)).toBe(3);
    expect(warmupStep(2, 0.25)).toBe(1);
    const r = rows([7, 6.8, 6.5, 6.2], [2, 1.5, 1, 1]);
    expect(readSignals(r.slice(0, 2), 12, spec())).toBeNull(); // not there yet
    expect(readSignals(r, 12, spec())).toEqual({ step: 3, first_loss: 7, loss: 6.5, grad_norm: 1.5, val_loss: null, score: 6.5 });
  });

  it("stops a diverging trial at once, whatever the others do", () => {
    const s = readSignals(rows([7, 9, 12], [3, 8, 20]), 12, spec())!;
    expect(diverged(s, spec())).toBe("the loss diverged, from 7.000 at step 1 to 12.000 around step 3 (over 1.5× its start)");
    expect(diverged(readSignals(rows([7, 6.9, Number.NaN], [1, 1, 1]), 12, spec())!, spec())).toBe("the loss was not finite within the first 3 steps");
    expect(diverged(readSignals(rows([7, 6.9, 6.8], [1, 1, 1]), 12, spec())!, spec())).toBeNull();
    expect(diverged(s, spec({ early_stop: "off" }))).toBeNull();
  });

  it("ranks every trial at its warm-up together and stops those worse than the median, in any order", () => {
    const stops = rung(scored([6.9, 7.3, 6.5, 7.2]), spec()); // median 7.05
    expect([...stops.keys()].sort()).toEqual([2, 4]);
    expect(stops.get(2)).toBe("its training loss 7.300 around step 3 is worse than the median of the 4 trials (7.050)");
    // The same scores listed in another order stop the same trials.
    const reversed = rung(scored([7.2, 6.5, 7.3, 6.9]), spec());
    expect([...reversed.keys()].sort()).toEqual([1, 3]);
    expect(rung(scored([6.9, 7.3]), spec()).size).toBe(0); // fewer than min_compared (3): no ranking
    expect(rung(scored([6.9, 7.3, 6.5, 7.2]), spec({ early_stop: "off" })).size).toBe(0);
    // A stricter share: stop only the worst quarter (worse than the 75th percentile, 7.225).
    expect([...rung(scored([6.9, 7.3, 6.5, 7.2]), spec({ stop_fraction: 0.25 })).keys()]).toEqual([2]);
  });

  it("ranks by validation loss with val, read at the first checkpoint at or after the warm-up", () => {
    const r = rows([7, 6.9, 6.8, 6.7, 6.6], [1, 1, 1, 1, 1], { 4: 6.9 });
    expect(readSignals(r.slice(0, 3), 12, spec({ early_stop: "val" }))).toBeNull(); // step 3 has no validation loss yet
    const at4 = readSignals(r, 12, spec({ early_stop: "val" }))!;
    expect(at4).toMatchObject({ step: 4, val_loss: 6.9, score: 6.9 });
    const stops = rung([...scored([6.1, 6.3, 6.2]), { index: 4, signals: at4 }], spec({ early_stop: "val" }));
    expect(stops.get(4)).toBe("its validation loss 6.900 at step 4 is worse than the median of the 4 trials (6.250)");
  });

  it("takes quantiles with linear interpolation", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4, 5], 0.75)).toBe(4);
    expect(quantile([7], 0.5)).toBe(7);
  });
});
