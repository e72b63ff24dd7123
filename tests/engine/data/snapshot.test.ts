import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeSnapshot } from "../../../engine/data/snapshot";
import { WhetstoneError } from "../../../engine/util/errors";
import { PROJECT_ROOT } from "../../../engine/paths";

const dir = mkdtempSync(join(tmpdir(), "whetstone-snap-"));
const row = (u: string, a: string) => JSON.stringify({ messages: [{ role: "user", content: u }, { role: "assistant", content: a }], id: 7 });

async function errorOf(p: Promise<unknown>): Promise<WhetstoneError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WhetstoneError) return e;
    throw e;
  }
  throw new Error("expected an error");
}

describe("writeSnapshot", () => {
  it("normalizes rows, records the source hash and leaves the source untouched", async () => {
    const src = join(dir, "ok.jsonl");
    const text = "\uFEFF" + [row("a", "b"), "", row("c", "d")].join("\r\n") + "\n";
    writeFileSync(src, text);
    const run = mkdtempSync(join(dir, "run-"));
    const m = await writeSnapshot(src, run);
    expect(m.rows).toBe(2);
    expect(m.source_sha256).toBe(createHash("sha256").update(text).digest("hex"));
    expect(m.notes.join()).toContain("byte-order mark");
    const lines = readFileSync(join(run, "data", "train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[1]).toEqual({ messages: [{ role: "user", content: "c" }, { role: "assistant", content: "d" }] });
    expect(readFileSync(src, "utf8")).toBe(text);
  });

  it("names the line and the problem of each bad row, and writes no snapshot", async () => {
    const src = join(dir, "bad.jsonl");
    writeFileSync(
      src,
      [
        row("a", "b"),
        '{"messages": [{"role": "user", "content": "x"},]}',
        JSON.stringify({ conversations: [] }),
        JSON.stringify({ messages: [{ role: "human", content: "x" }] }),
        JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
        JSON.stringify({ messages: [{ role: "user", content: 3 }, { role: "assistant", content: "y" }] }),
      ].join("\n"),
    );
    const run = mkdtempSync(join(dir, "run-"));
    const e = await errorOf(writeSnapshot(src, run));
    expect(e.code).toBe("DATA_INVALID");
    expect(e.message).toContain("5 invalid rows");
    expect(e.hint).toContain("--skip-invalid");
    expect(e.details).toEqual([
      "line 2: not valid JSON: a trailing comma before ']' [DATA_JSON_SYNTAX]",
      "line 3: the row is sharegpt (conversations [{from, value}]) but the file is chat (messages [{role, content}]), as from line 1 [DATA_MIXED_SCHEMA]",
      "line 4: messages[0].role is 'human', not a known role (system, user, assistant, tool); 'human' usually means user [DATA_UNKNOWN_ROLE]",
      "line 5: no non-empty assistant turn to train on (turns: user) [DATA_NO_ASSISTANT]",
      "line 6: messages[0].content must be a string, got a number: 3 [DATA_CONTENT_NOT_STRING]",
    ]);
    expect(existsSync(join(run, "data", "train.jsonl"))).toBe(false);
  });

  it("refuses an empty file", async () => {
    const src = join(dir, "empty.jsonl");
    writeFileSync(src, "");
    expect((await errorOf(writeSnapshot(src, mkdtempSync(join(dir, "run-"))))).code).toBe("DATA_EMPTY_FILE");
  });
});

describe("validation split", () => {
  const many = Array.from({ length: 200 }, (_, i) => row(`question ${i}`, `answer ${i}`));

  it("holds out about the requested fraction, seeded and order-independent, with duplicates on one side", async () => {
    const src = join(dir, "many.jsonl");
    writeFileSync(src, [...many, many[0], many[0]].join("\n"));
    const reversed = join(dir, "reversed.jsonl");
    writeFileSync(reversed, [...many].reverse().join("\n"));
    const a = mkdtempSync(join(dir, "run-"));
    const m = await writeSnapshot(src, a, { validationSplit: 0.2, seed: 3 });
    const held = readFileSync(join(a, "data", "validation.jsonl"), "utf8").trim().split("\n");
    const train = readFileSync(join(a, "data", "train.jsonl"), "utf8").trim().split("\n");
    expect(m.validation).toMatchObject({ rows: held.length, split: { fraction: 0.2, seed: 3 } });
    expect(m.rows).toBe(train.length);
    expect(train.length + held.length).toBe(202);
    expect(held.length).toBeGreaterThan(20);
    expect(held.length).toBeLessThan(60);
    const first = JSON.stringify(JSON.parse(many[0]!).messages);
    const inTrain = train.filter((l) => JSON.stringify(JSON.parse(l).messages) === first).length;
    expect([0, 3]).toContain(inTrain);
    const b = mkdtempSync(join(dir, "run-"));
    await writeSnapshot(reversed, b, { validationSplit: 0.2, seed: 3 });
    const heldB = readFileSync(join(b, "data", "validation.jsonl"), "utf8").trim().split("\n");
    expect(new Set(heldB)).toEqual(new Set(held.filter((l, i) => held.indexOf(l) === i)));
  });

  it("uses a separate validation file when given, and refuses a split that empties a side", async () => {
    const src = join(dir, "t.jsonl");
    writeFileSync(src, many.slice(0, 10).join("\n"));
    const val = join(dir, "v.jsonl");
    writeFileSync(val, many.slice(10, 13).join("\n"));
    const run = mkdtempSync(join(dir, "run-"));
    const m = await writeSnapshot(src, run, { validation: val });
    expect(m.rows).toBe(10);
    expect(m.validation).toMatchObject({ source: val, rows: 3, split: null });
    const one = join(dir, "one.jsonl");
    writeFileSync(one, many[0]!);
    const e = await errorOf(writeSnapshot(one, mkdtempSync(join(dir, "run-")), { validationSplit: 0.5, seed: 1 }));
    expect(e.code).toBe("DATA_EMPTY");
  });
});

describe("snapshots of every chat format", () => {
  const VALID = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "valid");
  const lines = (run: string, name = "train.jsonl") => readFileSync(join(run, "data", name), "utf8").trim().split("\n");

  it.each(["chat.jsonl", "sharegpt.json", "alpaca.csv", "prompt_completion.tsv", "chat.parquet", "alpaca.parquet", "folder"])("%s → the same {messages} JSONL", async (name) => {
    const run = mkdtempSync(join(dir, "run-"));
    const m = await writeSnapshot(join(VALID, name), run);
    const expected = readFileSync(join(VALID, "chat.jsonl"), "utf8").trim().split("\n").map((l) => JSON.stringify(JSON.parse(l)));
    expect(lines(run)).toEqual(expected);
    expect(m).toMatchObject({ rows: 3, skipped: { count: 0, rows: [] } });
    expect(m.source_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("applies the column and role mappings", async () => {
    const run = mkdtempSync(join(dir, "run-"));
    await writeSnapshot(join(VALID, "mapped.csv"), run, { columns: { question: "prompt", answer: "completion", sys: "system" } });
    expect(lines(run)).toHaveLength(3);
  });

  it("refuses preference pairs and plain text for SFT, naming the fields", async () => {
    for (const [file, field] of [["preference.jsonl", "chosen, rejected"], ["text.jsonl", "text"]] as const) {
      const e = await errorOf(writeSnapshot(join(VALID, file), mkdtempSync(join(dir, "run-"))));
      expect(e.code).toBe("DATA_METHOD_MISMATCH");
      expect(e.message).toContain("method sft trains on conversations");
      expect(e.message).toContain(file === "text.jsonl" ? "plain text (a text field" : "preference pairs (prompt, chosen, rejected)");
      expect(field.length).toBeGreaterThan(0);
    }
  });

  it("trains on the valid rows with skipInvalid, listing the skipped ones; dedupe drops exact copies", async () => {
    const src = join(dir, "some-bad.jsonl");
    writeFileSync(src, [row("a", "b"), "{oops", row("c", "d"), JSON.stringify({ messages: [{ role: "user", content: "x" }] }), row("a", "b")].join("\n"));
    const refused = await errorOf(writeSnapshot(src, mkdtempSync(join(dir, "run-"))));
    expect(refused).toMatchObject({ code: "DATA_INVALID", message: expect.stringContaining("2 invalid rows") });
    const run = mkdtempSync(join(dir, "run-"));
    const m = await writeSnapshot(src, run, { skipInvalid: true, dedupe: true });
    expect(lines(run)).toHaveLength(2);
    expect(m.rows).toBe(2);
    expect(m.skipped).toMatchObject({
      count: 3,
      duplicates: 1,
      rows: [
        { line: 2, row: 2, code: "DATA_JSON_SYNTAX" },
        { line: 4, row: 4, code: "DATA_NO_ASSISTANT" },
      ],
    });
    expect(m.notes.join("\n")).toContain("2 invalid rows were skipped");
    const stored = JSON.parse(readFileSync(join(run, "data", "manifest.json"), "utf8"));
    expect(stored.skipped.rows[0]).toMatchObject({ file: src, line: 2 });
  });

  it("rewrites the snapshot when a file's first rows had the minority schema", async () => {
    const src = join(dir, "minority.jsonl");
    writeFileSync(src, [JSON.stringify({ instruction: "Say hi", output: "Hi" }), row("a", "b"), row("c", "d")].join("\n"));
    const run = mkdtempSync(join(dir, "run-"));
    const m = await writeSnapshot(src, run, { skipInvalid: true });
    expect(lines(run).map((l) => JSON.parse(l).messages[0].content)).toEqual(["a", "c"]);
    expect(m.skipped.rows).toMatchObject([{ line: 1, code: "DATA_MIXED_SCHEMA" }]);
  });
});
