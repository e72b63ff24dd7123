/**
 * GLAN (engine/synth/glan.ts): the bundled taxonomy loads, rows on the tiny model carry the
 * discipline, subject and topic their instruction was drafted for (topic i mod T), and a taxonomy of
 * the wrong shape is refused naming the file, the line and what is wrong, through the API and the CLI.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { BUNDLED_TAXONOMY, glanRequest, loadTaxonomy } from "../../../engine/synth/glan";
import { ensureTinyModel, tempHome, TINY_MODEL } from "../../helpers/fixture";

let dir: string;
const rows = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "whetstone-glan-"));
});

describe("taxonomy", () => {
  it("the bundled one has a handful of disciplines, each topic with its line", () => {
    const { file, topics } = loadTaxonomy(null);
    expect(file).toBe(BUNDLED_TAXONOMY);
    expect(new Set(topics.map((t) => t.discipline)).size).toBeGreaterThanOrEqual(5);
    const lines = readFileSync(BUNDLED_TAXONOMY, "utf8").split("\n");
    for (const t of topics) expect(lines[t.line - 1]).toContain(t.topic);
    expect(glanRequest(topics, topics.length + 1).topic).toEqual(topics[1]);
    expect(glanRequest(topics, 1).request).not.toBe(glanRequest(topics, topics.length + 1).request); // another kind of task on a second visit
  });

  it("refuses a bad shape naming the file, the line and what is wrong", () => {
    const cases: [string, number, string][] = [
      ["- Mathematics\n- Physics\n", 1, "mapping of disciplines"],
      ["Mathematics:\n  Algebra:\n    - Linear equations\n  Geometry: Triangles\n", 4, 'subject "Geometry" (in Mathematics) should be a list of topics, not the string "Triangles"'],
      ["Mathematics:\n  Algebra:\n    - Linear equations\n    - {name: Logarithms}\n", 4, 'a topic of "Algebra" (in Mathematics) should be text, not a mapping'],
      ["Mathematics:\n  Algebra:\n    - Linear equations\nPhysics:\n", 4, 'discipline "Physics" should map subjects to their topics, not nothing'],
      ["Mathematics:\n  Algebra:\n    - Linear equations\n  Geometry:\n    -\n", 5, "should be text, not null"],
      ["Mathematics:\n  Algebra: [\n", 3, "not valid YAML"],
    ];
    cases.forEach(([text, line, what], i) => {
      const file = write(`bad-${i}.yaml`, text);
      expect(() => loadTaxonomy(file), text).toThrow(expect.objectContaining({ code: "SYNTH_TAXONOMY_INVALID", where: `${file}:${line}`, message: expect.stringContaining(what) }));
    });
    expect(() => loadTaxonomy(join(dir, "missing.yaml"))).toThrow(expect.objectContaining({ code: "SYNTH_TAXONOMY_NOT_FOUND" }));
  });
});

describe("glan on the tiny model", () => {
  let engine: Engine;
  const fast = { model: TINY_MODEL, promptTokens: 6, maxNewTokens: 5, filters: ["empty", "repeated", "refusal"] as ("empty" | "repeated" | "refusal")[] };

  beforeAll(() => {
    ensureTinyModel();
    engine = new Engine({ home: tempHome() });
  });

  it("writes N rows, each with the discipline, subject and topic its instruction was drafted for; data check passes", async () => {
    const taxonomy = write("small.yaml", "# three topics\nScience:\n  Physics:\n    - Gravity\n    - Friction\n  Biology:\n    - Cells\n");
    const out = join(dir, "glan.jsonl");
    const report = await engine.call("synthData", { method: "glan", n: 4, out, taxonomy, ...fast });
    expect(report).toMatchObject({ rows: 4, complete: true, method: "glan" });
    const topics = loadTaxonomy(taxonomy).topics;
    for (const r of rows(out)) {
      expect(r.synth).toMatchObject({ method: "glan", temperature: 1, taxonomy: { file: taxonomy, ...topics[r.synth.index % 3] } });
      expect(r.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant"]);
    }
    expect(rows(out)[0].synth.taxonomy).toEqual({ file: taxonomy, discipline: "Science", subject: "Physics", topic: "Gravity", line: 4 });
    const check = await engine.inspectDataset({ path: out, method: "sft" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);
  });

  it("refuses a bad taxonomy through the API and the CLI, and --taxonomy with another method", async () => {
    const bad = write("bad.yaml", "Science:\n  Physics: Gravity\n");
    const out = join(dir, "never.jsonl");
    await expect(engine.call("synthData", { method: "glan", n: 2, out, taxonomy: bad, ...fast })).rejects.toMatchObject({ code: "SYNTH_TAXONOMY_INVALID", where: `${bad}:2` });
    await expect(engine.call("synthData", { method: "magpie", n: 2, out, taxonomy: bad, ...fast })).rejects.toMatchObject({ code: "SYNTH_INVALID", where: "taxonomy" });
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "synth", "--method", "glan", "--model", TINY_MODEL, "--n", "2", "--out", out, "--taxonomy", bad], { encoding: "utf8", env: { ...process.env, WHETSTONE_HOME: tempHome() } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}:2: subject "Physics" (in Science) should be a list of topics`);
  });
});
