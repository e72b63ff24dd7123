/**
 * Every supported format and schema round-trips into the same normalized samples; readers stream
 * (lines across chunk boundaries, progress with ETA), sniff mislabeled files, and read folders.
 */
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { scanDataset, type ScanOptions } from "../../../engine/data/scan";
import { detectFormat } from "../../../engine/data/formats/index";
import type { ReadProgress, Sample } from "../../../engine/data/types";
import { PROJECT_ROOT } from "../../../engine/paths";

const VALID = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "valid");
const tmp = mkdtempSync(join(tmpdir(), "whetstone-formats-"));

const CHAT: Sample[] = [
  { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2 plus 2?" }, { role: "assistant", content: "It is 4." }] },
  { messages: [{ role: "user", content: "Name a prime number." }, { role: "assistant", content: "Seven is a prime number." }] },
  { messages: [{ role: "user", content: "Translate to English.\n\nchat" }, { role: "assistant", content: "cat" }] },
];

async function samples(path: string, opts: ScanOptions = {}) {
  let rows: { file: number; sample: Sample }[] = [];
  const scan = await scanDataset(path, {
    ...opts,
    onRow: (r) => void (r.sample && rows.push({ file: r.fileIndex, sample: r.sample })),
    onReread: (fi) => (rows = rows.filter((r) => r.file !== fi)),
  });
  return { out: rows.map((r) => r.sample), scan };
}

describe("every format and schema normalizes to the same samples", () => {
  it.each([
    ["chat.jsonl", "jsonl", "chat"],
    ["chat.json", "json", "chat"],
    ["chat.parquet", "parquet", "chat"],
    ["sharegpt.jsonl", "jsonl", "sharegpt"],
    ["sharegpt.json", "json", "sharegpt"],
    ["alpaca.json", "json", "alpaca"],
    ["alpaca.csv", "csv", "alpaca"],
    ["alpaca.parquet", "parquet", "alpaca"],
    ["prompt_completion.tsv", "tsv", "prompt_completion"],
    ["columns.json", "json", "prompt_completion"],
  ])("%s (%s, %s)", async (file, format, schema) => {
    const { out, scan } = await samples(join(VALID, file));
    expect(scan.log.issues()).toEqual([]);
    expect(scan.files[0]).toMatchObject({ format, schema, rows: 3 });
    expect(out).toEqual(CHAT);
  });

  it("a CSV with other column names, mapped with `columns` (CRLF line ends)", async () => {
    // question/answer are read as prompt/completion by their names; `sys` needs the mapping.
    const unmapped = await samples(join(VALID, "mapped.csv"));
    expect(unmapped.scan.log.issues()).toEqual([]);
    expect(unmapped.scan.notes).toEqual([expect.stringContaining("columns read by their names: question → prompt, answer → completion")]);
    expect(unmapped.out).toEqual([{ messages: (CHAT[0] as { messages: unknown[] }).messages.slice(1) }, ...CHAT.slice(1)]);
    const { out, scan } = await samples(join(VALID, "mapped.csv"), { columns: { question: "prompt", answer: "completion", sys: "system" } });
    expect(scan.log.issues()).toEqual([]);
    expect(out).toEqual(CHAT);
  });

  it("a folder of files in different formats (non-data files ignored), with one hash for the whole", async () => {
    const { out, scan } = await samples(join(VALID, "folder"));
    expect(out).toEqual(CHAT);
    expect(scan.files.map((f) => [f.format, f.schema])).toEqual([["jsonl", "chat"], ["csv", "alpaca"]]);
    expect(scan.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(scan.sha256).not.toBe(scan.files[0]!.sha256);
  });

  it("preference pairs as strings and as message lists with an implicit prompt", async () => {
    const a = await samples(join(VALID, "preference.jsonl"));
    const b = await samples(join(VALID, "preference-implicit.json"));
    expect(a.out).toEqual([
      { prompt: [{ role: "user", content: "What is 2 plus 2?" }], chosen: [{ role: "assistant", content: "It is 4." }], rejected: [{ role: "assistant", content: "It is 5." }] },
      { prompt: [{ role: "user", content: "Name a prime number." }], chosen: [{ role: "assistant", content: "Seven." }], rejected: [{ role: "assistant", content: "Nine." }] },
    ]);
    expect(b.out).toEqual(a.out);
    expect(a.scan.kind).toBe("preference");
  });

  it("plain text", async () => {
    const { out, scan } = await samples(join(VALID, "text.jsonl"));
    expect(out).toEqual([{ text: "The first document." }, { text: "The second document,\nwith two lines." }]);
    expect(scan.kind).toBe("text");
  });

  it("role names mapped with `roles`, and OpenAI text-part content joined", async () => {
    const file = join(tmp, "roles.jsonl");
    writeFileSync(file, JSON.stringify({ messages: [{ role: "human", content: [{ type: "text", text: "Hi " }, { type: "text", text: "there" }] }, { role: "bot", content: "Hello" }] }) + "\n");
    const unmapped = await scanDataset(file);
    expect(unmapped.log.summaries().map((s) => s.message)).toEqual([
      "role 'human' is not a known role: 1 row, first at line 1 (messages[0].role); 'human' usually means user",
      "role 'bot' is not a known role: 1 row, first at line 1 (messages[1].role); 'bot' usually means assistant",
    ]);
    const { out } = await samples(file, { roles: { human: "user", bot: "assistant" } });
    expect(out).toEqual([{ messages: [{ role: "user", content: "Hi there" }, { role: "assistant", content: "Hello" }] }]);
  });
});

describe("readers", () => {
  it("stream JSONL across chunk boundaries with exact line numbers, and report progress with an ETA", async () => {
    const file = join(tmp, "big.jsonl");
    const long = "x".repeat(300_000);
    const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: `${i} ${long}` }, { role: "assistant", content: `answer ${i}` }] }));
    lines[9] = lines[9]!.slice(0, -1); // broken: line 10 spans the 2nd/3rd MiB boundary
    writeFileSync(file, lines.join("\n") + "\n");
    const progress: ReadProgress[] = [];
    const { out, scan } = await samples(file, { onProgress: (p) => progress.push(p) });
    expect(out).toHaveLength(11);
    expect(scan.log.issues()).toMatchObject([{ code: "DATA_JSON_SYNTAX", line: 10 }]);
    const last = progress.at(-1)!;
    expect(last.bytes).toBe(last.totalBytes);
    expect(last.eta_s).toBe(0);
    expect(last.rows).toBe(12);
    expect(progress.length).toBeGreaterThanOrEqual(1);
  });

  it("read a .json file that holds JSON Lines as JSONL, and say so", async () => {
    const file = join(tmp, "lines.json");
    writeFileSync(file, CHAT.map((s) => JSON.stringify(s)).join("\n") + "\n");
    expect(detectFormat(file)).toMatchObject({ format: "jsonl", note: expect.stringContaining("holds JSON Lines") });
    const { out, scan } = await samples(file);
    expect(out).toEqual(CHAT);
    expect(scan.notes[0]).toContain("read as jsonl");
  });

  it("read a .jsonl file that holds one JSON array as JSON", async () => {
    const file = join(tmp, "array.jsonl");
    writeFileSync(file, JSON.stringify(CHAT, null, 2));
    expect(detectFormat(file).format).toBe("json");
    expect((await samples(file)).out).toEqual(CHAT);
  });

  it("re-read a file whose first rows are the minority schema, so the majority's rows are kept", async () => {
    const file = join(tmp, "minority-first.jsonl");
    const alpaca = JSON.stringify({ instruction: "Say hi", input: "", output: "Hi" });
    writeFileSync(file, [alpaca, ...CHAT.map((s) => JSON.stringify(s))].join("\n"));
    const { out, scan } = await samples(file);
    expect(scan.reread).toBe(true);
    expect(out).toEqual(CHAT);
    expect(scan.files[0]).toMatchObject({ schema: "chat", schemas: { alpaca: 1, chat: 3 } });
    expect(scan.log.summaries()).toMatchObject([{ code: "DATA_MIXED_SCHEMA", count: 1, first: { line: 1 } }]);
  });

  it("refuse a folder with different kinds of samples, naming the files", async () => {
    const dir = join(tmp, "kinds");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.jsonl"), JSON.stringify(CHAT[0]) + "\n");
    writeFileSync(join(dir, "b.jsonl"), JSON.stringify({ text: "a document" }) + "\n");
    const scan = await scanDataset(dir);
    expect(scan.blocking).toMatchObject([{ code: "DATA_MIXED_SCHEMA", message: expect.stringContaining("chat: a.jsonl; text: b.jsonl") }]);
  });
});
