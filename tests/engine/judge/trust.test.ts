/** Judge trust from verdicts built by the real combine() of both orders: consistency, ties, confidence, warning. */
import { describe, expect, it } from "vitest";
import { combine, normalize } from "../../../engine/judge/prompt";
import { CONSISTENCY_WARNING_BELOW, judgeTrust } from "../../../engine/judge/trust";
import { formatEval, trustLines } from "../../../engine/eval/report";

/** One pair judged in both orders from raw verdict-token probabilities ("1", "2", "Tie"). */
const pair = (modelFirst: [number, number, number], baselineFirst: [number, number, number]) =>
  combine(normalize({ "1": modelFirst[0], "2": modelFirst[1], Tie: modelFirst[2] }), normalize({ "1": baselineFirst[0], "2": baselineFirst[1], Tie: baselineFirst[2] }));

describe("judge trust", () => {
  it("a judge that reads the answers: the same verdict in both orders, confident", () => {
    // model better: "1" when it comes first, "2" when it comes second
    const good = [pair([0.9, 0.05, 0.05], [0.05, 0.9, 0.05]), pair([0.1, 0.8, 0.1], [0.8, 0.1, 0.1]), pair([0.1, 0.1, 0.8], [0.1, 0.1, 0.8])];
    const t = judgeTrust(good);
    expect(t.position_consistency).toBe(1);
    expect(t.tie_share).toBeCloseTo(1 / 3, 12);
    expect(t.mean_confidence).toBeCloseTo((0.9 + 0.8 + 0.8) / 3, 12);
    expect(t.warning).toBeNull();
  });

  it("a judge that always picks the first answer is consistent 0% of the time and gets the warning", () => {
    const first = Array.from({ length: 10 }, () => pair([0.7, 0.2, 0.1], [0.7, 0.2, 0.1]));
    const t = judgeTrust(first);
    expect(t.position_consistency).toBe(0);
    expect(t.mean_confidence).toBeCloseTo(0.7, 12);
    expect(t.warning).toMatch(/This judge is guessing.*0% of 10 prompts.*Use a larger judge/);
  });

  it("warns just below the threshold and not at it", () => {
    const consistent = pair([0.9, 0.05, 0.05], [0.05, 0.9, 0.05]);
    const flipped = pair([0.9, 0.05, 0.05], [0.9, 0.05, 0.05]);
    const at = judgeTrust([...Array(6).fill(consistent), ...Array(4).fill(flipped)]);
    expect(at.position_consistency).toBe(CONSISTENCY_WARNING_BELOW);
    expect(at.warning).toBeNull();
    const below = judgeTrust([...Array(59).fill(consistent), ...Array(41).fill(flipped)]);
    expect(below.warning).toContain("59% of 100 prompts");
  });

  it("the report states the figures and the warning", () => {
    const t = judgeTrust(Array.from({ length: 4 }, () => pair([0.6, 0.3, 0.1], [0.6, 0.3, 0.1])));
    const lines = trustLines(t).join("\n");
    expect(lines).toContain("position consistency 0%");
    expect(lines).toContain("ties 0%");
    expect(lines).toContain("mean confidence 0.60");
    expect(lines).toContain("> **Warning:** This judge is guessing");
    const report = { run_id: "r", created_at: "", model: { label: "m" }, baseline: { label: "b" }, per_prompt: [], summary: { n: 4, win_rate: 50, win_rate_ci: { low: 40, high: 60 }, lc_win_rate: 50, lc_win_rate_ci: { low: 40, high: 60 }, wins: 0, losses: 0, ties: 4, avg_length_model: 1, avg_length_baseline: 1, judge_trust: t } };
    expect(formatEval(report)).toContain("This judge is guessing");
  });
});
