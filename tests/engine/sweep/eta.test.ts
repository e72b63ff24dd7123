/** The sweep's ETA: seconds per trained step so far times the steps still planned (with early stopping: the warm-ups, then the share the rung keeps). */
import { describe, expect, it } from "vitest";
import { SweepSpecSchema, type Trial } from "../../../engine/sweep/schema";
import { sweepEta } from "../../../engine/sweep/sweep";

const trial = (index: number, over: Partial<Trial>): Trial => ({
  index, settings: {}, run_id: null, state: "pending", reason: null, signals: null, steps: null, total_steps: null, final_loss: null, val_loss: null, saved_steps: 0, ...over,
});
const signals = { step: 3, first_loss: 7, loss: 6.9, grad_norm: 1, val_loss: null, score: 6.9 };

describe("sweep ETA", () => {
  it("is null before any step, 0 once the sweep has ended", () => {
    const spec = SweepSpecSchema.parse({ early_stop: "off" });
    expect(sweepEta({ trials: [trial(1, {})], spec, elapsed_s: 5, state: "running" })).toBeNull();
    expect(sweepEta({ trials: [trial(1, { state: "completed", steps: 12, total_steps: 12 })], spec, elapsed_s: 5, state: "completed" })).toBe(0);
  });

  it("counts the steps left at the pace so far", () => {
    // 12 steps in 24 s: 2 s a step. Left: 12 of trial 2, and trial 3 (total unknown: 12, the typical one).
    const spec = SweepSpecSchema.parse({ early_stop: "off" });
    const trials = [trial(1, { state: "completed", steps: 12, total_steps: 12 }), trial(2, { state: "running", steps: 0, total_steps: 12 }), trial(3, {})];
    expect(sweepEta({ trials, spec, elapsed_s: 24, state: "running" })).toBe(48);
  });

  it("with early stopping, counts the warm-ups and the share of the rest the rung keeps", () => {
    // 3 s a step. Trial 1 paused at 4 of 12 (read): 8 left. Trial 2 not started: warm-up 3, then 9 × 0.5.
    const spec = SweepSpecSchema.parse({});
    const trials = [trial(1, { state: "paused", steps: 4, total_steps: 12, signals }), trial(2, { total_steps: 12 })];
    expect(sweepEta({ trials, spec, elapsed_s: 12, state: "running" })).toBe(Math.round(3 * (8 + 3 + 4.5)));
  });
});
