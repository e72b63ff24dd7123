/**
 * Response selection (engine/synth/select.ts, rounds.ts) on the tiny model with the tiny judge: the
 * answer written is the one the judge scores highest (scores recomputed here through judgePairs), a
 * pairs file keeps only pairs at or above the margin and passes `data check` for dpo, and a cut file
 * resumes to the same bytes as an uninterrupted run. The tiny model is random, so truncated answers
 * are kept (no `truncated` filter) and these check mechanics, not quality.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { judgePairs, resolveJudge } from "../../../engine/judge/run";
import type { JudgeTarget } from "../../../engine/judge/types";
import { pick } from "../../../engine/synth/select";
import { ensureTinyModel, tempHome, TINY_MODEL } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";

let engine: Engine;
let dir: string;
let judge: string;
let target: JudgeTarget;
const fast = { model: TINY_MODEL, promptTokens: 6, maxNewTokens: 5, filters: ["empty", "repeated", "refusal"] as ("empty" | "repeated" | "refusal")[] };
const rows = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));

beforeAll(async () => {
  ensureTinyModel();
  judge = ensureTinyJudge();
  target = await resolveJudge({ judge }, tempHome());
  engine = new Engine({ home: tempHome() });
  dir = mkdtempSync(join(tmpdir(), "whetstone-synth-select-"));
});

/** The judge's scores for a row's answers, computed here: mean preference against each other answer, both orders. */
async function scoresOf(prompt: string, answers: { j: number; text: string }[]) {
  const pairs: { a: number; b: number; pair: { instruction: string; model: string; baseline: string } }[] = [];
  for (let a = 0; a < answers.length; a++) for (let b = a + 1; b < answers.length; b++) pairs.push({ a, b, pair: { instruction: prompt, model: answers[a]!.text, baseline: answers[b]!.text } });
  const verdicts = await judgePairs(target, pairs.map((p) => p.pair), { inProcess: true });
  const sums = answers.map(() => 0);
  verdicts.forEach((v, i) => {
    sums[pairs[i]!.a]! += v.preference;
    sums[pairs[i]!.b]! += 1 - v.preference;
  });
  return sums.map((s) => s / (answers.length - 1));
}

describe("best of n (sft)", () => {
  let full: string;
  const options = () => ({ method: "magpie" as const, n: 3, ...fast, responses: 3, responseTemperatures: [0.7, 1.0], judge });

  it("writes the answer the judge scores highest, with every answer's source, temperature and score", async () => {
    full = join(dir, "best.jsonl");
    const report = await engine.call("synthData", { ...options(), out: full });
    expect(report).toMatchObject({ rows: 3, complete: true });
    expect(report.selection).toMatchObject({ select: "sft", responses: 3, judge, sources: [{ source: "model", temperature: 0.7 }, { source: "model", temperature: 1 }, { source: "model", temperature: 0.7 }] });
    expect(report.selection!.judged).toBeGreaterThanOrEqual(3);
    expect(report.selection!.pairs_judged).toBe(3 * report.selection!.judged);
    for (const r of rows(full)) {
      const s = r.synth;
      expect(s).toMatchObject({ method: "magpie", selection: "sft", judge, responses: expect.any(Array) });
      expect(s.responses.map((x: { temperature: number }) => x.temperature)).toEqual([0.7, 1, 0.7]);
      const usable = s.responses.filter((x: { score: number | null }) => x.score !== null);
      expect(usable.length).toBeGreaterThanOrEqual(2);
      const mine = await scoresOf(r.messages[0].content, usable);
      usable.forEach((x: { score: number }, i: number) => expect(x.score).toBeCloseTo(mine[i]!, 5));
      const best = usable[mine.indexOf(Math.max(...mine))];
      expect(s.chosen).toBe(best.j);
      expect(r.messages[1].content).toBe(best.text);
      expect(s.response_temperature).toBe(best.temperature);
    }
    const check = await engine.inspectDataset({ path: full, method: "sft" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);
  });

  it("a file cut after its first row (and torn) resumes to the same bytes; another selection is refused", async () => {
    const cut = join(dir, "best-cut.jsonl");
    writeFileSync(cut, readFileSync(full, "utf8").split("\n")[0] + '\n{"prompt": [{"role": "us');
    const report = await engine.call("synthData", { ...options(), out: cut });
    expect(report).toMatchObject({ rows: 3, resumed: 1, written: 2, torn_line_removed: true });
    expect(readFileSync(cut, "utf8")).toBe(readFileSync(full, "utf8"));
    await expect(engine.call("synthData", { method: "magpie", n: 4, out: cut, ...fast })).rejects.toMatchObject({ code: "SYNTH_OUT_MISMATCH", where: `${cut}:1`, message: expect.stringContaining("selection") });
  });
});

describe("preference pairs", () => {
  it("best vs worst from two models; a minimum margin keeps exactly the pairs at or above it; the file passes data check for dpo", async () => {
    const other = join(dir, "other-model");
    cpSync(TINY_MODEL, other, { recursive: true });
    const pairs = (out: string, minMargin: number) =>
      engine.call("synthData", { method: "magpie", n: 6, out, ...fast, responses: 4, responderModels: [other], select: "pairs", minMargin, judge, maxCandidates: 6 });
    const all = join(dir, "pairs-all.jsonl");
    const loose = await pairs(all, 0);
    expect(loose.selection).toMatchObject({ select: "pairs", responses: 4, min_margin: 0 });
    expect(loose.selection!.sources.map((s) => s.source)).toEqual(["model", other, "model", other]);
    const written = rows(all);
    expect(written.length).toBeGreaterThanOrEqual(4);
    for (const r of written) {
      expect(Object.keys(r)).toEqual(["prompt", "chosen", "rejected", "synth"]);
      const s = r.synth;
      const scored = s.responses.filter((x: { score: number | null }) => x.score !== null);
      const expected = pick(scored, scored.map((x: { score: number }) => x.score));
      expect([s.chosen, s.rejected, s.margin]).toEqual([expected.best, expected.worst, expected.margin]);
      expect(r.chosen[0].content).toBe(s.responses[s.chosen].text);
      expect(r.rejected[0].content).toBe(s.responses[s.rejected].text);
      expect(new Set(s.responses.map((x: { source: string }) => x.source))).toEqual(new Set(["model", other]));
    }
    const check = await engine.inspectDataset({ path: all, method: "dpo" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);

    // The tiny judge barely prefers anything: the median margin splits the same candidates in two.
    const margins = written.map((r) => r.synth.margin as number).sort((a, b) => a - b);
    const minMargin = margins[Math.floor(margins.length / 2)]!;
    const strict = join(dir, "pairs-strict.jsonl");
    const report = await pairs(strict, minMargin);
    const kept = rows(strict);
    expect(kept.map((r) => r.synth.index)).toEqual(written.filter((r) => r.synth.margin >= minMargin).map((r) => r.synth.index));
    expect(report.selection!.below_margin).toBe(written.length - kept.length);
    expect(report.selection!.below_margin).toBeGreaterThan(0);
    expect(report).toMatchObject({ complete: false, candidates: 6 });
  });

  it("refuses pairs from a single answer, and fewer responses than sources", async () => {
    const out = join(dir, "never.jsonl");
    await expect(engine.call("synthData", { method: "magpie", n: 2, out, ...fast, select: "pairs" })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "select" });
    await expect(engine.call("synthData", { method: "magpie", n: 2, out, ...fast, responses: 1, responseTemperatures: [0.5, 1] })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "responses" });
  });
});

describe("whetstone synth --responses", () => {
  it("writes pairs from two answer temperatures and prints how the judge chose", () => {
    const out = join(dir, "cli-pairs.jsonl");
    const args = ["synth", "--method", "magpie", "--model", TINY_MODEL, "--n", "2", "--out", out, "--prompt-tokens", "6", "--max-tokens", "5", "--filters", "empty,repeated,refusal",
      "--response-temperatures", "0.7,1.2", "--select", "pairs", "--min-margin", "0", "--judge", judge];
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), ...args], { encoding: "utf8", env: { ...process.env, WHETSTONE_HOME: tempHome() } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/selection {4}pairs: best of 2 answers \(model at 0\.7, model at 1\.2\), judged by /);
    expect(r.stdout).toContain("pairs below the margin 0");
    expect(rows(out).map((row) => Object.keys(row))).toEqual([["prompt", "chosen", "rejected", "synth"], ["prompt", "chosen", "rejected", "synth"]]);
  });
});
