/**
 * `whetstone synth` on the tiny model, through the engine and the CLI. The tiny model is random: it
 * almost never ends a turn, so these runs keep truncated candidates (filters without `truncated`)
 * and check mechanics, not quality: N rows with provenance that pass `data check` and are not
 * trained on, the same file for the same seed, a cancelled and torn file resumed to the same bytes,
 * a planted evaluation prompt dropped, fewshot's examples, and the errors for bad input.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { scanDataset } from "../../../engine/data/scan";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, TINY_DATA, TINY_MODEL } from "../../helpers/fixture";

let engine: Engine;
let dir: string;
const fast = { model: TINY_MODEL, promptTokens: 6, maxNewTokens: 5, filters: ["empty", "repeated", "refusal"] as ("empty" | "repeated" | "refusal")[] };
const rows = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));

beforeAll(() => {
  ensureTinyModel();
  engine = new Engine({ home: tempHome() });
  dir = mkdtempSync(join(tmpdir(), "whetstone-synth-"));
});

describe("magpie", () => {
  let first: string;

  it("writes N rows with their provenance; data check passes and ingestion leaves the provenance out", async () => {
    first = join(dir, "magpie.jsonl");
    const events: number[] = [];
    const off = engine.subscribe((e) => e.type === "synth" && e.progress.phase === "synth" && events.push(e.progress.current));
    const report = await engine.call("synthData", { method: "magpie", n: 4, out: first, ...fast });
    off();
    expect(report).toMatchObject({ rows: 4, written: 4, resumed: 0, complete: true, requested: 4, method: "magpie", run: null });
    expect(events.at(-1)).toBe(4);
    const written = rows(first);
    expect(written).toHaveLength(4);
    for (const r of written) {
      expect(r.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant"]);
      expect(r.synth).toMatchObject({ method: "magpie", model: TINY_MODEL, run: null, seed: 0, temperature: 1, response_temperature: 0.7 });
    }
    expect(written.map((r) => r.synth.index)).toEqual([...written.map((r) => r.synth.index)].sort((a, b) => a - b));
    const check = await engine.inspectDataset({ path: first, method: "sft" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);
    const samples: unknown[] = [];
    await scanDataset(first, { onRow: (row) => void samples.push(row.sample) });
    expect(samples).toHaveLength(4);
    for (const s of samples) expect(Object.keys(s as object)).toEqual(["messages"]);
  });

  it("the same seed writes the same file, another seed another", async () => {
    const again = join(dir, "magpie-again.jsonl");
    await engine.call("synthData", { method: "magpie", n: 4, out: again, ...fast });
    expect(readFileSync(again, "utf8")).toBe(readFileSync(first, "utf8"));
    const other = join(dir, "magpie-seed1.jsonl");
    await engine.call("synthData", { method: "magpie", n: 4, out: other, seed: 1, ...fast });
    expect(readFileSync(other, "utf8")).not.toBe(readFileSync(first, "utf8"));
  });

  it("a cancelled synthesis, then torn by a kill, resumes to the same file without duplicates", async () => {
    const out = join(dir, "magpie-cut.jsonl");
    const off = engine.subscribe((e) => {
      if (e.type === "synth" && e.out === out && e.progress.phase === "synth" && e.progress.current >= 2) void engine.call("cancelSynth", { out });
    });
    await expect(engine.call("synthData", { method: "magpie", n: 4, out, ...fast })).rejects.toMatchObject({ code: "CANCELLED", message: expect.stringContaining("2 of 4 rows") });
    off();
    expect(rows(out)).toHaveLength(2);
    appendFileSync(out, '{"messages": [{"role": "user", "content": "half');
    const report = await engine.call("synthData", { method: "magpie", n: 4, out, ...fast });
    expect(report).toMatchObject({ rows: 4, resumed: 2, written: 2, torn_line_removed: true });
    expect(readFileSync(out, "utf8")).toBe(readFileSync(first, "utf8"));
    // Asked again for the same N, there is nothing to do; a larger N goes on from there.
    expect(await engine.call("synthData", { method: "magpie", n: 4, out, ...fast })).toMatchObject({ written: 0, candidates: 0, complete: true });
    await expect(engine.call("synthData", { method: "magpie", n: 4, out, ...fast, seed: 2 })).rejects.toMatchObject({ code: "SYNTH_OUT_MISMATCH", where: `${out}:1` });
  });

  it("drops a planted evaluation prompt, counts it, and still writes N rows", async () => {
    const planted = rows(first)[1].messages[0].content as string;
    const evals = join(dir, "evals.jsonl");
    writeFileSync(evals, JSON.stringify({ prompt: "An unrelated question about the weather in Lisbon in May?" }) + "\n" + JSON.stringify({ prompt: planted }) + "\n");
    const out = join(dir, "magpie-clean.jsonl");
    const report = await engine.call("synthData", { method: "magpie", n: 4, out, ...fast, evalPrompts: evals });
    expect(report).toMatchObject({ rows: 4, eval_prompts: 2 });
    expect(report.decontaminated).toBeGreaterThanOrEqual(1);
    expect(rows(out).map((r) => r.messages[0].content)).not.toContain(planted);
  });

  it("with every filter on, the tiny model's truncated candidates are counted and the report says it fell short", async () => {
    const out = join(dir, "magpie-strict.jsonl");
    const report = await engine.call("synthData", { method: "magpie", n: 3, out, model: TINY_MODEL, promptTokens: 4, maxNewTokens: 4, maxCandidates: 8 });
    expect(report).toMatchObject({ complete: false, candidates: 8 });
    expect(report.filtered.truncated).toBeGreaterThan(0);
    expect(report.rows).toBeLessThan(3);
  });
});

describe("fewshot", () => {
  it("writes N rows from the seed file's prompts, each with the examples it was shown and its temperature", async () => {
    const out = join(dir, "fewshot.jsonl");
    const report = await engine.call("synthData", { method: "fewshot", n: 3, out, seeds: TINY_DATA, k: 2, ...fast });
    expect(report).toMatchObject({ rows: 3, complete: true, method: "fewshot" });
    for (const r of rows(out)) {
      expect(r.synth.examples).toHaveLength(2);
      expect(r.synth.examples[0]).toMatch(/tiny-chat\.jsonl:\d+$/);
      expect([0.7, 1, 1.3]).toContain(r.synth.temperature);
    }
    const check = await engine.inspectDataset({ path: out, method: "sft" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);
  });
});

describe("bad input", () => {
  it("names what is wrong and where", async () => {
    const bare = join(dir, "bare-model");
    cpSync(TINY_MODEL, bare, { recursive: true });
    rmSync(join(bare, "chat_template.jinja"));
    const config = JSON.parse(readFileSync(join(bare, "tokenizer_config.json"), "utf8"));
    delete config.chat_template;
    writeFileSync(join(bare, "tokenizer_config.json"), JSON.stringify(config));
    const out = join(dir, "never.jsonl");
    await expect(engine.call("synthData", { method: "magpie", n: 2, out, model: bare })).rejects.toMatchObject({ code: "TEMPLATE_MISSING", where: bare, message: expect.stringContaining("pre-query") });
    const empty = join(dir, "empty-seeds.jsonl");
    writeFileSync(empty, "");
    await expect(engine.call("synthData", { method: "fewshot", n: 2, out, model: TINY_MODEL, seeds: empty })).rejects.toMatchObject({ code: "SYNTH_NO_SEEDS", where: empty });
    for (const n of [0, -3]) await expect(engine.call("synthData", { method: "magpie", n, out, model: TINY_MODEL })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "n", message: expect.stringContaining(`n is ${n}`) });
    await expect(engine.call("synthData", { method: "fewshot", n: 2, out, model: TINY_MODEL })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "seeds" });
  });
});

describe("whetstone synth", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "synth", ...args], { encoding: "utf8", env: { ...process.env, WHETSTONE_HOME: tempHome() } });

  it("prints the report, and a clear error for N ≤ 0", () => {
    const out = join(dir, "cli.jsonl");
    const r = cli("--method", "magpie", "--model", TINY_MODEL, "--n", "2", "--out", out, "--prompt-tokens", "6", "--max-tokens", "5", "--filters", "empty,repeated,refusal");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${out}: 2 of 2 rows (2 written now)`);
    expect(r.stdout).toMatch(/filtered {5}/);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(join(dir, "magpie.jsonl"), "utf8").split("\n").slice(0, 2).join("\n") + "\n");
    const bad = cli("--method", "magpie", "--model", TINY_MODEL, "--n", "0", "--out", out);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("n is 0");
  });
});
