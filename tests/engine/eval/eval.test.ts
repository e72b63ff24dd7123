/**
 * Evaluation end to end on real tiny runs with the tiny judge: `evalRun` writes a report (JSON and
 * markdown) with win rate, LC win rate, CIs, lengths and per-prompt verdicts into the run; the CLI
 * prints it and reuses the stored answers; `compare` ranks two runs and stores the comparison in
 * both; `generate` streams tokens as engine events; no request reaches the hub with a local judge.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { validateConfig } from "../../../engine/config/load";
import type { EngineEvent } from "../../../engine/api/events";
import { comparePaths, evalPaths } from "../../../engine/eval/eval";
import { PROJECT_ROOT } from "../../../engine/paths";
import { tinyConfig } from "../../helpers/fixture";
import { ensureTinyJudge } from "./tiny-judge";
import { tinyRuns } from "./tiny-runs";
import { HANG_MS } from "../../helpers/limits";

let engine: Engine;
let runA: string;
let runB: string;
let judge: string;
const hubRequests: string[] = [];
const hub = createServer((req, res) => {
  hubRequests.push(req.url ?? "");
  res.writeHead(404).end();
});
const SETTINGS = { limit: 4, maxNewTokens: 8, resamples: 200 };
const previousEndpoint = process.env.WHETSTONE_HF_ENDPOINT;

beforeAll(async () => {
  judge = ensureTinyJudge();
  await new Promise<void>((r) => hub.listen(0, "127.0.0.1", r));
  process.env.WHETSTONE_HF_ENDPOINT = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  const runs = await tinyRuns();
  engine = new Engine({ home: runs.home });
  [runA, runB] = runs.ids as [string, string];
  expect(engine.getRun({ id: runA }).status.state).toBe("completed");
});

afterAll(() => {
  hub.close();
  if (previousEndpoint === undefined) delete process.env.WHETSTONE_HF_ENDPOINT;
  else process.env.WHETSTONE_HF_ENDPOINT = previousEndpoint;
});

describe("eval", () => {
  it("judges a run against its base on its held-out split and stores the report with its settings", async () => {
    const events: EngineEvent[] = [];
    engine.events.on("event", (e) => events.push(e));
    const report = await engine.evalRun({ id: runA, judge, ...SETTINGS });
    const s = report.summary;
    expect(s.n).toBe(4);
    expect(s.wins + s.ties + s.losses).toBe(4);
    expect(s.win_rate).toBeGreaterThanOrEqual(0);
    expect(s.win_rate_ci.low).toBeLessThanOrEqual(s.win_rate);
    expect(s.win_rate_ci.high).toBeGreaterThanOrEqual(s.win_rate);
    expect(Number.isFinite(s.lc_win_rate)).toBe(true);
    expect(s.avg_length_model).toBeGreaterThan(0);
    const trust = s.judge_trust!;
    expect(trust.n).toBe(4);
    expect(trust.position_consistency * 4).toBe(Math.round(trust.position_consistency * 4));
    expect(trust.tie_share).toBe(s.ties / 4);
    expect(trust.mean_confidence).toBeGreaterThanOrEqual(1 / 3);
    expect(trust.warning === null).toBe(trust.position_consistency >= 0.6);
    expect(report.per_prompt).toHaveLength(4);
    const row = report.per_prompt[0] as unknown as Record<string, unknown> & { orders: { model_first: { mass: number }; baseline_first: { mass: number } } };
    expect(row.orders.model_first.mass).toBeGreaterThan(0);
    expect(row.orders.baseline_first.mass).toBeGreaterThan(0);
    expect(row.where).toContain("validation.jsonl");
    expect(report).toMatchObject({ against: "base", prompts: { source: expect.stringContaining("held-out"), used: 4 }, generation: { max_new_tokens: 8, decoding: "greedy" }, judge: { kind: "onnx" } });

    const paths = evalPaths(engine.store, runA, "base");
    expect(JSON.parse(readFileSync(paths.json, "utf8"))).toEqual(report);
    const md = readFileSync(paths.markdown, "utf8");
    for (const text of ["win rate", "length-controlled win rate", "average answer length", "## Per prompt", "| 3 |", "Judge trust: position consistency"]) expect(md).toContain(text);
    expect(engine.getEval({ id: runA })).toEqual(report);
    // The answers are stored in the run with the settings used, one file per side.
    const stored = readdirSync(join(engine.store.runDir(runA), "reports", "generations")).map((f) => JSON.parse(readFileSync(join(engine.store.runDir(runA), "reports", "generations", f), "utf8")));
    expect(stored.map((g) => g.side).sort()).toEqual(["base", "tuned"]);
    expect(stored[0].settings).toMatchObject({ max_new_tokens: 8, temperature: 0, decoding: "greedy" });
    expect(stored[0].outputs).toHaveLength(4);
    const phases = new Set(events.flatMap((e) => (e.type === "progress" && e.runId === runA ? [e.progress.phase] : [])));
    expect([...phases]).toEqual(expect.arrayContaining(["generate", "judge"]));
    expect(events.some((e) => e.type === "progress" && e.progress.phase === "judge" && e.progress.eta_s !== null)).toBe(true);
    expect(hubRequests).toEqual([]); // a local judge: nothing asked of the hub
  });

  it("`whetstone eval RUN --judge DIR --prompts FILE` prints the summary; stored answers are reused", async () => {
    const prompts = join(mkdtempSync(join(tmpdir(), "whetstone-prompts-")), "prompts.txt");
    writeFileSync(prompts, "What is 2 plus 2?\n\nSay hello.\n");
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), ...args], { env: { ...process.env, WHETSTONE_HOME: engine.store.home }, encoding: "utf8", timeout: HANG_MS });
    const r = cli("eval", runA, "--judge", judge, "--prompts", prompts, "--max-tokens", "6", "--resamples", "100");
    expect(r.stderr).not.toContain("error[");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("length-controlled win rate");
    expect(r.stdout).toMatch(/Judge trust: position consistency \d+%.*ties \d+%, mean confidence \d\.\d\d/);
    expect(r.stdout).toContain(evalPaths(engine.store, runA, "base").json);
    expect(JSON.parse(readFileSync(evalPaths(engine.store, runA, "base").json, "utf8")).prompts).toMatchObject({ source: prompts, used: 2 });
    const again = cli("eval", runA, "--judge", judge, "--prompts", prompts, "--max-tokens", "6", "--resamples", "100", "--json");
    expect(again.status).toBe(0);
    expect(readFileSync(join(engine.store.runDir(runA), "log.txt"), "utf8").match(/\[eval\] worker/g)).toHaveLength(2); // engine test + first CLI run; the second reused the answers
    const bad = cli("eval", runA, "--judge", join(tmpdir(), "no-such-judge"));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("JUDGE_NOT_FOUND");
  });

  it("compares runs against their bases and each other, ranks them, marks the best, stores it in both", async () => {
    const single = await engine.evalRun({ id: runA, judge, ...SETTINGS });
    const report = await engine.compareRuns({ ids: [runA, runB], judge, ...SETTINGS });
    // compare's vs-base match is fitted exactly as `eval` fits it (no cross-run term)
    expect(report.matches[0]!.summary.lc_win_rate).toBe(single.summary.lc_win_rate);
    expect(report.matches[0]!.summary.lc_win_rate_ci).toEqual(single.summary.lc_win_rate_ci);
    expect(report.matches.every((m) => m.summary.judge_trust?.n === 4)).toBe(true);
    expect(report.runs).toEqual([runA, runB]);
    expect(report.matches.map((m) => [m.model, m.baseline.startsWith("base") ? "base" : m.baseline])).toEqual([[runA, "base"], [runB, "base"], [runA, runB]]);
    expect(report.ranking).toHaveLength(3);
    expect(report.ranking.reduce((a, r) => a + r.strength, 0)).toBeCloseTo(1, 9);
    expect(report.best).toBe(report.ranking.find((r) => r.run_id)!.run_id);
    for (const id of [runA, runB]) {
      expect(JSON.parse(readFileSync(comparePaths(engine.store, id).json, "utf8"))).toEqual(report);
      expect(readFileSync(comparePaths(engine.store, id).markdown, "utf8")).toContain("**best**");
      expect(readFileSync(comparePaths(engine.store, id).markdown, "utf8")).toContain("judge consistency / ties / confidence");
      expect(engine.getEval({ id })!.summary.n).toBe(4);
    }
    await expect(engine.evalRun({ id: runA, against: runB, judge, ...SETTINGS })).resolves.toMatchObject({ against: runB });
    expect(existsSync(evalPaths(engine.store, runB, runA).json)).toBe(true);
  });

  it("generate streams tokens as engine events that add up to the answer", async () => {
    const tokens: string[] = [];
    engine.events.on("event", (e) => e.type === "token" && e.runId === runA && tokens.push(e.text));
    const result = await engine.generate({ id: runA, prompts: [[{ role: "user", content: "Name a prime number." }]], stream: true, maxNewTokens: 10 });
    expect(tokens.join("")).toBe(result.outputs.tuned![0]!.text);
    expect(result.outputs.tuned![0]!.tokens).toBeGreaterThan(0);
  });

  it("refuses a run without held-out prompts, saying how to get some", async () => {
    const plain = engine.store.create(validateConfig(tinyConfig({ name: "no-val" })));
    await expect(engine.evalRun({ id: plain.id, judge })).rejects.toMatchObject({ code: "EVAL_NO_PROMPTS", hint: expect.stringContaining("--prompts") });
  });
});
