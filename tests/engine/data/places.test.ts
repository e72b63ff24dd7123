/**
 * How the report counts and cites: counts are rows (a row with two bad fields counts once), a
 * record of a one-line JSON array is cited by its element (every record is on line 1), and every
 * report line names its file once.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatDatasetReport, formatPreview } from "../../../engine/cli/data-report";
import { previewDataset } from "../../../engine/data/preview";
import { ensureTinyModel } from "../../helpers/fixture";
import { inspectDataset } from "../../../engine/data/inspect";
import { formatLocation } from "../../../engine/data/issues";
import { scanDataset } from "../../../engine/data/scan";
import { writeSnapshot } from "../../../engine/data/snapshot";

const tmp = mkdtempSync(join(tmpdir(), "whetstone-places-"));

describe("counts are rows", () => {
  it("300 rows with two mistyped fields each: 300 rows, 600 places", async () => {
    const file = join(tmp, "typed.jsonl");
    writeFileSync(file, Array.from({ length: 300 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: i }, { role: "assistant", content: [i] }] })).join("\n") + "\n");
    const report = await inspectDataset(file);
    const s = report.summary.find((x) => x.code === "DATA_CONTENT_NOT_STRING")!;
    expect([s.rows, s.count]).toEqual([300, 600]);
    const text = formatDatasetReport(report);
    expect(text).toContain("error[DATA_CONTENT_NOT_STRING] 300 rows (600 places): ");
    expect(text).not.toContain("600 rows");
    expect(report.stats).toMatchObject({ rows: 300, invalid_rows: 300 });
  });
});

describe("a one-line JSON array cites its elements", () => {
  const records = Array.from({ length: 20 }, (_, i) => ({ instruction: `Task ${i + 1}`, input: "", output: `Done ${i + 1}` }));

  it("element 17, not line 1; a duplicate names the element it repeats", async () => {
    const bad = records.map((r, i) => (i === 16 ? { instruction: "Task 17", input: "", output: 17 } : i === 9 ? records[2] : r));
    const file = join(tmp, "oneline.json");
    writeFileSync(file, JSON.stringify(bad));
    const scan = await scanDataset(file);
    const err = scan.log.issues().find((i) => i.code === "DATA_FIELD_TYPE")!;
    expect(err).toMatchObject({ line: 1, row: 17, element: 17, field: "output" });
    expect(formatLocation(err)).toBe(`${file}: element 17`);
    expect(scan.log.issues().find((i) => i.code === "DATA_DUPLICATE")).toMatchObject({ element: 10, message: "repeats element 3 exactly" });
    const text = formatDatasetReport(await inspectDataset(file));
    expect(text).toContain(`error[DATA_FIELD_TYPE] ${file}: element 17 (output): output must be text, got a number`);
  });

  it("the preview of a record of a one-line array names its element", async () => {
    const file = join(tmp, "oneline-preview.json");
    writeFileSync(file, JSON.stringify(records.slice(0, 5)));
    const p = await previewDataset(file, { model: ensureTinyModel(), index: 3 });
    expect(p).toMatchObject({ line: 1, row: 4, element: 4 });
    expect(formatPreview(p, false).split("\n")[0]).toBe(`${file}: element 4 (index 3) · alpaca`);
  });

  it("a syntax error inside one element keeps its column", async () => {
    const file = join(tmp, "oneline-bad.json");
    const text = JSON.stringify(records.slice(0, 3)).replace('"Task 2"', '"Task 2" 1');
    writeFileSync(file, text);
    const scan = await scanDataset(file);
    const err = scan.log.issues().find((i) => i.code === "DATA_JSON_SYNTAX")!;
    expect(err).toMatchObject({ line: 1, element: 2 });
    expect(formatLocation(err)).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1:\\d+ \\(element 2\\)$`));
  });

  it("a pretty-printed array keeps line numbers", async () => {
    const file = join(tmp, "pretty.json");
    writeFileSync(file, JSON.stringify(records.map((r, i) => (i === 4 ? { ...r, output: 5 } : r)), null, 2));
    const err = (await scanDataset(file)).log.issues().find((i) => i.code === "DATA_FIELD_TYPE")!;
    expect(err.element).toBeUndefined();
    expect(err.line).toBe(2 + 4 * 5);
  });

  it("records that start on lines of their own keep line numbers, even when '}, {' joins them", async () => {
    const file = join(tmp, "joined.json");
    const body = records.slice(0, 3).map((r, i) => `{\n  "instruction": "${r.instruction}",\n  "input": "",\n  "output": ${i === 1 ? 2 : JSON.stringify(r.output)}\n}`);
    writeFileSync(file, `[${body.join(", ")}]\n`);
    const err = (await scanDataset(file)).log.issues().find((i) => i.code === "DATA_FIELD_TYPE")!;
    expect(err.element).toBeUndefined();
    expect(err.line).toBe(5);
  });

  it("pandas' one-line column form cites positions too, and the snapshot's refusal names the element", async () => {
    const file = join(tmp, "columns.json");
    writeFileSync(file, JSON.stringify({ prompt: ["a", "b", "c"], completion: ["x", 2, "z"] }));
    const scan = await scanDataset(file);
    expect(scan.log.issues().find((i) => i.code === "DATA_FIELD_TYPE")).toMatchObject({ element: 2 });
    await expect(writeSnapshot(file, mkdtempSync(join(tmp, "run-")))).rejects.toThrow(/first: element 2: completion must be text/);
  });
});

describe("a path is printed once", () => {
  it.each([
    ["empty.jsonl", ""],
    ["bom.jsonl", "\uFEFF" + JSON.stringify({ text: "a document" }) + "\n"],
    ["notes.xyz", "hello\n"],
    ["empty.csv", "\n\n"],
  ])("%s", async (name, content) => {
    const file = join(tmp, name);
    writeFileSync(file, content);
    const text = formatDatasetReport(await inspectDataset(file));
    const lines = text.split("\n").filter((l) => /^(error|warning)\[/.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l.split(file).length - 1).toBe(1);
  });
});
