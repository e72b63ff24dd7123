/** The statistics on synthetic judgments with known answers: length bias removed by the LC rate, bootstrap, Bradley–Terry. */
import { describe, expect, it } from "vitest";
import { LENGTH_SLOPE_PRIOR } from "../../../engine/eval/lc";
import { bootstrap, bradleyTerry, fitLengthControlled, rng, summarize, type Judgment } from "../../../engine/eval/stats";

/** A judge that prefers longer answers: true rate 40%, tuned answers ~150 chars longer on average. */
function lengthBiased(n: number, seed: number, trueTheta = Math.log(0.4 / 0.6), lengthBias = 1.5): Judgment[] {
  const random = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const deltas = Array.from({ length: n }, () => 150 + 200 * gauss());
  const scale = Math.sqrt(deltas.reduce((a, d) => a + (d - 150) ** 2, 0) / n);
  return deltas.map((d) => {
    const p = 1 / (1 + Math.exp(-(trueTheta + lengthBias * Math.tanh(d / scale))));
    const baselineLength = 300 + Math.round(100 * random());
    return { preference: random() < p ? 1 : 0, modelLength: baselineLength + Math.round(d), baselineLength };
  });
}

describe("length-controlled win rate", () => {
  it("recovers the bias-free rate (40%) within 4 points where the raw rate is off by more than 15", () => {
    for (const seed of [1, 2, 3]) {
      const judgments = lengthBiased(3000, seed);
      const s = summarize(judgments, judgments.map((j) => (j.preference === 1 ? "win" : "loss")), { resamples: 200 });
      expect(Math.abs(s.lc_win_rate - 40)).toBeLessThan(4);
      expect(s.win_rate - 40).toBeGreaterThan(15);
      expect(s.lc_fit.phi).toBeGreaterThan(1);
      expect(s.lc_win_rate_ci.low).toBeLessThan(s.lc_win_rate);
      expect(s.lc_win_rate_ci.high).toBeGreaterThan(s.lc_win_rate);
      expect(s.avg_length_model - s.avg_length_baseline).toBeGreaterThan(100);
    }
  });

  it("equals the raw rate when lengths carry no signal, and soft ties count half", () => {
    const judgments: Judgment[] = Array.from({ length: 400 }, (_, i) => ({ preference: i % 4 === 0 ? 1 : 0.5, modelLength: 100 + (i % 7), baselineLength: 100 + ((i * 3) % 7) }));
    const s = summarize(judgments, judgments.map((j) => (j.preference === 1 ? "win" : "tie")), { resamples: 100 });
    expect(s.win_rate).toBeCloseTo(62.5, 6);
    expect(Math.abs(s.lc_win_rate - s.win_rate)).toBeLessThan(1.5);
    expect([s.wins, s.ties, s.losses]).toEqual([100, 300, 0]);
  });

  it("holds the length slope near its prior with few prompts and lets plentiful data move it", () => {
    // A judge with a strong length bias (φ = 3): 60 prompts barely move φ off the prior, 20000 carry it most of the way.
    const few = fitLengthControlled(lengthBiased(60, 7, 0, 3));
    const many = fitLengthControlled(lengthBiased(20_000, 7, 0, 3));
    expect(Math.abs(few.phi - LENGTH_SLOPE_PRIOR.mean)).toBeLessThan(Math.abs(many.phi - LENGTH_SLOPE_PRIOR.mean));
    expect(many.phi).toBeGreaterThan(2.5);
    expect(few.prior).toEqual(LENGTH_SLOPE_PRIOR);
  });

  it("stays finite on a clean sweep and on one prompt", () => {
    const sweep = fitLengthControlled(Array.from({ length: 50 }, (_, i) => ({ preference: 1, modelLength: 100 + i, baselineLength: 100 })));
    expect(Number.isFinite(sweep.theta) && Number.isFinite(sweep.phi)).toBe(true);
    const one = summarize([{ preference: 0.75, modelLength: 10, baselineLength: 20 }], ["win"], { resamples: 20 });
    expect(Number.isFinite(one.lc_win_rate)).toBe(true);
  });
});

describe("bootstrap and Bradley–Terry", () => {
  it("bootstrap intervals are seeded and cover the mean", () => {
    const xs = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const m = (s: number[]) => s.reduce((a, b) => a + b, 0) / s.length;
    const ci = bootstrap(xs, m, { resamples: 500, seed: 5 });
    expect(ci).toEqual(bootstrap(xs, m, { resamples: 500, seed: 5 }));
    expect(ci.low).toBeLessThan(m(xs));
    expect(ci.high).toBeGreaterThan(m(xs));
    expect(ci.high - ci.low).toBeLessThan(0.2);
  });

  it("recovers known strengths and orders a sweep", () => {
    const truth = [0.5, 0.3, 0.2];
    const wins = truth.map((pi, i) => truth.map((pj, j) => (i === j ? 0 : (1000 * pi) / (pi + pj))));
    const p = bradleyTerry(wins);
    p.forEach((x, i) => expect(x).toBeCloseTo(truth[i]!, 2));
    const sweep = bradleyTerry([[0, 10, 10], [0, 0, 10], [0, 0, 0]]);
    expect(sweep[0]).toBeGreaterThan(sweep[1]!);
    expect(sweep[1]).toBeGreaterThan(sweep[2]!);
    expect(sweep.every(Number.isFinite)).toBe(true);
  });
});
