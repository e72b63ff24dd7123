/** The rounds' stop rule on recorded numbers (engine/rounds/stop.ts): no model, no judge. */
import { describe, expect, it } from "vitest";
import type { Match, Round } from "../../../engine/rounds/schema";
import { bestRound, verdict } from "../../../engine/rounds/stop";

const match = (lc: number, low = lc - 10, high = lc + 10): Match => ({ against: "x", n: 20, win_rate: lc, lc_win_rate: lc, lc_low: low, lc_high: high });
const round = (index: number, vsPrevious: Match | null, vsBase: Match | null = match(60)): Pick<Round, "index" | "vs_base" | "vs_previous" | "state"> => ({ index, vs_base: vsBase, vs_previous: index === 1 ? null : vsPrevious, state: "done" });
const spec = { rounds: 5, stop_metric: "lc_win_rate" as const, stop_threshold: 50 };

describe("rounds stop rule", () => {
  it("goes on while a round beats the one before (round 1: the base), and stops at the first that does not", () => {
    expect(verdict(round(1, null, match(55)), spec)).toEqual({ stop: false, won: true, reason: null });
    expect(verdict(round(2, match(50.1)), spec)).toEqual({ stop: false, won: true, reason: null });
    const tie = verdict(round(3, match(50, 41.2, 58.8)), spec);
    expect(tie).toMatchObject({ stop: true, won: false });
    expect(tie.reason).toBe("round 3 stopped winning: its LC win rate against round 2 is 50.0% (95% CI 41.2%–58.8%), not above 50.0%");
    expect(verdict(round(1, null, match(42)), spec)).toMatchObject({ stop: true, won: false, reason: expect.stringContaining("against the base model is 42.0%") });
  });

  it("reads round 1 against the base and later rounds against the previous round only", () => {
    // Round 2 beats the base by far but loses to round 1: it stops.
    expect(verdict(round(2, match(45), match(90)), spec)).toMatchObject({ stop: true, won: false });
    // Round 2 loses to the base but beats round 1: it goes on.
    expect(verdict(round(2, match(60), match(30)), spec)).toMatchObject({ stop: false, won: true });
  });

  it("stops after the last round, and with the stricter metric on the CI's low end", () => {
    expect(verdict(round(5, match(70)), spec)).toMatchObject({ stop: true, won: true, reason: expect.stringMatching(/^all 5 rounds trained; the last beat round 4/) });
    const strict = { ...spec, stop_metric: "lc_ci_low" as const };
    expect(verdict(round(2, match(70, 49)), strict)).toMatchObject({ stop: true, won: false, reason: expect.stringContaining("CI low end against round 1 is 49.0%") });
    expect(verdict(round(2, match(70, 51)), strict)).toMatchObject({ stop: false, won: true });
    expect(verdict(round(2, match(30)), { ...spec, stop_threshold: 20 })).toMatchObject({ stop: false });
  });

  it("a round without its match stops the loop rather than going on blind", () => {
    expect(verdict(round(2, null), spec)).toMatchObject({ stop: true, won: false, reason: "round 2 has no judged match against round 1" });
  });

  it("the best round is the last that won before the first that did not", () => {
    expect(bestRound([round(1, null, match(60)), round(2, match(55)), round(3, match(48)), round(4, match(70))], spec)).toBe(2);
    expect(bestRound([round(1, null, match(40))], spec)).toBeNull();
    expect(bestRound([round(1, null, match(60)), { ...round(2, null), state: "training" }], spec)).toBe(1);
  });
});
