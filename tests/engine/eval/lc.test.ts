/**
 * The LC win rate against something nobody here wrote: AlpacaEval 2.0's published leaderboard, on
 * its own public judgments (bench/data/alpacaeval-lc.json, 50 models × 805 instructions). The same
 * `summarize` that `whetstone eval RUN --against base` uses must land within the issue's targets:
 * mean absolute error ≤ 1.5 points, max ≤ 4, Spearman ≥ 0.97. Compare mode fits each vs-base match
 * with the same function on the same rows, so the same figures hold there.
 */
import { describe, expect, it } from "vitest";
import { fitLengthControlled, lcWinRate } from "../../../engine/eval/lc";
import { summarize } from "../../../engine/eval/stats";
import { agreement, loadAlpacaEval, spearman } from "../../../bench/lc-data";

const { models } = loadAlpacaEval();

describe("LC win rate vs AlpacaEval 2.0's published figures", () => {
  it("reads the data right: raw win rates equal the leaderboard's (preferences stored to 1e-4)", () => {
    expect(models.length).toBe(50);
    for (const m of models) expect(Math.abs(summarize(m.judgments, [], { resamples: 10 }).win_rate - m.published_win_rate)).toBeLessThan(0.01);
  });

  it("agrees with the published LC: MAE ≤ 1.5, max ≤ 4, Spearman ≥ 0.97", () => {
    const rows = models.map((m) => ({ name: m.name, published: m.published_lc, ours: summarize(m.judgments, [], { resamples: 10 }).lc_win_rate }));
    const a = agreement(rows);
    expect(a.mae).toBeLessThanOrEqual(1.5);
    expect(a.max).toBeLessThanOrEqual(4);
    expect(a.spearman).toBeGreaterThanOrEqual(0.97);
  });

  it("the length-slope prior is what makes it agree: without it the fit misses by several points", () => {
    const rows = models.map((m) => ({ name: m.name, published: m.published_lc, ours: lcWinRate(m.judgments, fitLengthControlled(m.judgments, { mean: 0, precision: 1e-3 })) }));
    expect(agreement(rows).mae).toBeGreaterThan(4);
  });

  it("spearman is a rank correlation (checked on hand-made ranks with a tie)", () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // ranks (0.5, 0.5, 2, 3) vs (0, 1, 2, 3): Pearson of the ranks = 0.9486832980505138
    expect(spearman([5, 5, 6, 7], [1, 2, 3, 4])).toBeCloseTo(0.9486832980505138, 12);
  });
});
