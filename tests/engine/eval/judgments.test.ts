/**
 * `whetstone eval --judgments FILE [--json]`, as a user runs it: AlpacaEval 2.0's public judgments of
 * one model (bench/data, written out in the issue's JSONL shape) re-scored from a file give the
 * leaderboard's raw win rate and an LC rate near its published LC; bad rows are errors with their
 * line and field, and nothing is scored.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../engine/paths";
import { loadAlpacaEval } from "../../../bench/lc-data";
import { HANG_MS } from "../../helpers/limits";

const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");
const dir = mkdtempSync(join(tmpdir(), "whetstone-judgments-"));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: join(dir, "home") }, encoding: "utf8", timeout: HANG_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("whetstone eval --judgments", () => {
  it("re-scores AlpacaEval's judgments of a model: raw win rate as published, LC within 4 points of the published LC, CIs in percent", () => {
    const model = loadAlpacaEval().models.find((m) => m.name === "claude-2")!;
    const file = join(dir, "claude-2.jsonl");
    writeFileSync(file, "\uFEFF" + model.judgments.map((j, i) => JSON.stringify({ id: `alpaca-${i}`, preference: j.preference, model_length: j.modelLength, baseline_length: j.baselineLength, ...(i % 2 ? { instruction: "…" } : {}) })).join("\n") + "\n\n");
    const before = readFileSync(file, "utf8");
    const r = cli(["eval", "--judgments", file, "--json", "--resamples", "200"]);
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out) as Record<string, unknown>;
    expect(out.n).toBe(805);
    expect(Math.abs((out.win_rate as number) - model.published_win_rate)).toBeLessThan(0.01);
    expect(Math.abs((out.lc_win_rate as number) - model.published_lc)).toBeLessThan(4);
    // published 28.2, raw 17.2: the LC rate must move most of the way up
    expect(out.lc_win_rate as number).toBeGreaterThan(25);
    const [lo, hi] = out.lc_win_rate_ci as [number, number];
    expect(lo).toBeLessThan(out.lc_win_rate as number);
    expect(hi).toBeGreaterThan(out.lc_win_rate as number);
    const [wlo, whi] = out.win_rate_ci as [number, number];
    expect(wlo).toBeLessThan(out.win_rate as number);
    expect(whi - wlo).toBeLessThan(10);
    expect(readFileSync(file, "utf8")).toBe(before);

    const text = cli(["eval", "--judgments", file, "--resamples", "50"]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/length-controlled win rate\s+\d+\.\d%\s+95% CI \[/);
  });

  it("lists every bad row with its line and field, exits 2 and scores nothing", () => {
    const file = join(dir, "bad.jsonl");
    writeFileSync(
      file,
      [
        '{"id": 1, "preference": 0.5, "model_length": 10, "baseline_length": 12}',
        '{"id": 2, "preference": 1.7, "model_length": 10, "baseline_length": 12}',
        '{"id": 3, "preference": 0.2, "model_length": "long", "baseline_length": 12}',
        "",
        '{"id": 4, "preference": 0.2, "model_length": 10',
        '{"id": 1, "preference": 0.9, "model_length": 10, "baseline_length": 12}',
        '{"preference": 0.9, "model_length": 10, "baseline_length": 12, "score": 3}',
        "[1, 2]",
      ].join("\n"),
    );
    const r = cli(["eval", "--judgments", file, "--json"]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain("7 problems in the judgments file; nothing was scored");
    expect(r.err).toContain(`${file}:2: field "preference" must be a number from 0 to 1`);
    expect(r.err).toContain("subtract 1");
    expect(r.err).toContain(`${file}:3: field "model_length" must be a whole number`);
    expect(r.err).toContain(`${file}:5: not valid JSON`);
    expect(r.err).toContain(`${file}:6: field "id" 1 repeats line 1`);
    expect(r.err).toContain(`${file}:7: field "id" is missing`);
    expect(r.err).toContain(`${file}:7: unknown field "score"`);
    expect(r.err).toContain(`${file}:8: expected a JSON object`);
  });

  it("names a missing or empty file", () => {
    expect(cli(["eval", "--judgments", join(dir, "nope.jsonl")]).err).toContain("Cannot read the judgments file");
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "\n\n");
    const r = cli(["eval", "--judgments", empty]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("has no judgments");
  });
});
