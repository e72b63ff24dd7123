/**
 * Compressed files and folders of shards: gzip, zstd, bzip2 and xz are read by their first bytes,
 * streaming, with the line numbers of the decompressed text; compressed Parquet is refused with
 * the command that decompresses it; damaged data stops with its line; a folder of shards reads
 * in name order and skips entries it cannot read with a warning. The .zst fixture was made by the
 * zstd tool itself, the .bz2 and .xz ones by bzip2 and xz (compressors nobody here wrote).
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { detectFormat } from "../../../engine/data/formats/index";
import { scanDataset } from "../../../engine/data/scan";
import { writeSnapshot } from "../../../engine/data/snapshot";
import type { Sample } from "../../../engine/data/types";
import { PROJECT_ROOT } from "../../../engine/paths";

const SHAPES = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "shapes");
const tmp = mkdtempSync(join(tmpdir(), "whetstone-compressed-"));

async function read(path: string) {
  const rows: Sample[] = [];
  const places: string[] = [];
  const scan = await scanDataset(path, { onRow: (r) => void (r.sample && (rows.push(r.sample), places.push(`${r.file.slice(path.length + 1) || "."}:${r.line}`))) });
  return { rows, places, scan };
}

function chatLines(n: number, tag = ""): string[] {
  // Varied, poorly compressible text, so the compressed stream's chunks end at arbitrary places.
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: 20 + Math.floor(rand() * 400) }, () => Math.floor(rand() * 1e9).toString(36)).join(" ");
    return JSON.stringify({ messages: [{ role: "user", content: `${tag}question ${i + 1}: ${words} — café?` }, { role: "assistant", content: `answer ${i + 1}` }] });
  });
}

describe("compressed files", () => {
  it("a .jsonl.zst made by the zstd tool reads as the same rows as its plain twin", async () => {
    const plain = await read(join(SHAPES, "openai-messages.jsonl"));
    const zst = await read(join(SHAPES, "openai-messages.jsonl.zst"));
    expect(zst.scan.files[0]).toMatchObject({ format: "jsonl", schema: "chat" });
    expect(zst.scan.log.issues()).toEqual([]);
    expect(zst.rows).toEqual(plain.rows);
    expect(zst.rows.length).toBeGreaterThan(1);
    // The file the user has is what the run records: the hash is of the compressed bytes.
    const bytes = readFileSync(join(SHAPES, "openai-messages.jsonl.zst"));
    expect(zst.scan.files[0]!.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(zst.scan.files[0]!.bytes).toBe(bytes.length);
  });

  it("a 1.5 MB zstd stream (made by the zstd tool, many blocks) reads every row, in order, at its line", async () => {
    const file = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "valid", "sums.jsonl.zst");
    let n = 0;
    let wrong = 0;
    const scan = await scanDataset(file, {
      onRow: (r) => {
        n++;
        const m = r.sample && "messages" in r.sample ? r.sample.messages : [];
        const i = r.line!;
        if (m[0]?.content !== `Question ${i}: what is ${i} plus ${(i * 7) % 1000}?` || m[1]?.content !== String(i + ((i * 7) % 1000))) wrong++;
      },
    });
    expect(scan.log.issues()).toEqual([]);
    expect([n, wrong]).toEqual([12000, 0]);
  });

  it("gzip across many chunks: exact line numbers of the decompressed text, and progress in file bytes", async () => {
    const lines = chatLines(3000);
    lines[2456] = lines[2456]!.slice(0, -2); // line 2457 broken
    const file = join(tmp, "big.jsonl.gz");
    writeFileSync(file, gzipSync(lines.join("\n") + "\n"));
    const progress: number[] = [];
    const scan = await scanDataset(file, { onProgress: (p) => progress.push(p.bytes) });
    expect(scan.stats.rows).toBe(3000);
    expect(scan.log.issues()).toMatchObject([{ code: "DATA_JSON_SYNTAX", line: 2457 }]);
    expect(progress.at(-1)).toBe(readFileSync(file).length);
  });

  it("concatenated gzip members (cat a.gz b.gz) read as one file", async () => {
    const [a, b] = [chatLines(3, "a "), chatLines(2, "b ")];
    const file = join(tmp, "members.jsonl.gz");
    writeFileSync(file, Buffer.concat([gzipSync(a.join("\n") + "\n"), gzipSync(b.join("\n") + "\n")]));
    const { rows, scan } = await read(file);
    expect(scan.log.issues()).toEqual([]);
    expect(rows.map((r) => ("messages" in r ? r.messages[0]!.content.slice(0, 12) : ""))).toEqual(["a question 1", "a question 2", "a question 3", "b question 1", "b question 2"]);
  });

  it("JSON and CSV inside gzip, by the name under .gz", async () => {
    const records = [{ instruction: "Say hi.", input: "", output: "Hi!" }, { instruction: "Add 2 and 2.", input: "", output: "4" }];
    writeFileSync(join(tmp, "alpaca.json.gz"), gzipSync(JSON.stringify(records, null, 2)));
    writeFileSync(join(tmp, "alpaca.csv.gz"), gzipSync('instruction,input,output\n"Say hi.",,Hi!\n"Add 2 and 2.",,4\n'));
    const json = await read(join(tmp, "alpaca.json.gz"));
    const csv = await read(join(tmp, "alpaca.csv.gz"));
    expect(json.scan.files[0]).toMatchObject({ format: "json", schema: "alpaca", rows: 2 });
    expect(csv.scan.files[0]).toMatchObject({ format: "csv", schema: "alpaca", rows: 2 });
    expect(csv.rows).toEqual(json.rows);
    expect(csv.places).toEqual([".:2", ".:3"]);
  });

  it("compression comes from the bytes, not the name, and the note says so", () => {
    const hidden = join(tmp, "hidden.jsonl");
    writeFileSync(hidden, gzipSync(chatLines(2).join("\n")));
    expect(detectFormat(hidden)).toMatchObject({ format: "jsonl", compression: "gzip", note: expect.stringContaining("gzip-compressed; read decompressed") });
    const plain = join(tmp, "plain.jsonl.gz");
    writeFileSync(plain, chatLines(2).join("\n"));
    expect(detectFormat(plain)).toMatchObject({ format: "jsonl", note: expect.stringContaining("not compressed") });
    expect(detectFormat(plain).compression).toBeUndefined();
  });

  it("--format jsonl on a gzip file reads it decompressed (it used to give one 'not UTF-8' error per line)", async () => {
    const file = join(tmp, "forced.gz");
    writeFileSync(file, gzipSync(chatLines(50).join("\n") + "\n"));
    const scan = await scanDataset(file, { format: "jsonl" });
    expect(scan.log.issues()).toEqual([]);
    expect(scan.stats.samples).toBe(50);
  });

  it("damaged gzip: the rows before the damage are read, the error names the line where it stops", async () => {
    const lines = chatLines(400);
    const whole = gzipSync(lines.join("\n") + "\n");
    const file = join(tmp, "cut.jsonl.gz");
    writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    const scan = await scanDataset(file);
    const err = scan.blocking.find((i) => i.code === "DATA_DECOMPRESS")!;
    expect(err.message).toContain("cut short");
    expect(scan.stats.rows).toBeGreaterThan(10);
    expect(scan.stats.invalid).toBe(0); // the cut-off last line is not reported as bad JSON
    expect(err.line).toBe(scan.stats.rows + 1);
  });

  it("damaged gzip CSV: the half-decompressed last line is not reported as a short row", async () => {
    const lines = ["prompt,completion", ...chatLines(600).map((l, i) => `"${l.slice(40, 400).replace(/"/g, '""')}",answer ${i + 1}`)];
    const whole = gzipSync(lines.join("\n") + "\n");
    const file = join(tmp, "cut.csv.gz");
    writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 3)));
    const scan = await scanDataset(file);
    expect(scan.log.issues().map((i) => i.code)).toEqual(["DATA_DECOMPRESS"]);
    expect(scan.stats.rows).toBeGreaterThan(10);
    expect(scan.blocking[0]!.line).toBe(scan.stats.rows + 2); // the header, the rows read, then the cut line
  });

  it("damaged zstd is an error, not a stack trace", async () => {
    const zst = readFileSync(join(SHAPES, "openai-messages.jsonl.zst"));
    const file = join(tmp, "cut.jsonl.zst");
    writeFileSync(file, zst.subarray(0, zst.length - 10));
    const scan = await scanDataset(file);
    expect(scan.blocking).toMatchObject([{ code: "DATA_DECOMPRESS", message: expect.stringContaining("zstd") }]);
  });

  it("bzip2 and xz files made by the bzip2 and xz tools read as the plain file does", async () => {
    const plain = await read(join(SHAPES, "openai-messages.jsonl"));
    for (const suffix of [".bz2", ".xz"]) {
      const file = join(SHAPES, `openai-messages.jsonl${suffix}`);
      expect(detectFormat(file)).toMatchObject({ format: "jsonl", compression: suffix === ".bz2" ? "bzip2" : "xz" });
      const got = await read(file);
      expect(got.scan.blocking).toEqual([]);
      expect(got.rows).toEqual(plain.rows);
      expect(got.scan.files[0]!.sha256).toBe(createHash("sha256").update(readFileSync(file)).digest("hex"));
    }
  });

  it("cut-short bzip2 and xz stop with DATA_DECOMPRESS, not a stack trace", async () => {
    for (const suffix of [".bz2", ".xz"]) {
      const whole = readFileSync(join(SHAPES, `openai-messages.jsonl${suffix}`));
      const file = join(tmp, `cut.jsonl${suffix}`);
      writeFileSync(file, whole.subarray(0, Math.floor(whole.length * 0.6)));
      const scan = await scanDataset(file);
      expect(scan.blocking).toMatchObject([{ code: "DATA_DECOMPRESS", message: expect.stringContaining(suffix === ".bz2" ? "bzip2" : "xz") }]);
    }
  });

  it("compressed Parquet is refused with the command that decompresses it, the path printed once", async () => {
    const pq = join(tmp, "data.parquet.gz");
    writeFileSync(pq, gzipSync(readFileSync(join(PROJECT_ROOT, "tests", "fixtures", "datasets", "valid", "chat.parquet"))));
    const scan = await scanDataset(pq);
    expect(scan.blocking).toHaveLength(1);
    const issue = scan.blocking[0]!;
    expect(issue).toMatchObject({ code: "DATA_UNSUPPORTED_FORMAT", file: pq });
    expect(issue.message).not.toContain(pq);
    expect(issue.hint).toContain(`gzip -dk ${pq}`);
  });

  it("an unknown extension under .gz: the message names the extensions, not the path again", async () => {
    const file = join(tmp, "notes.txt.gz");
    writeFileSync(file, gzipSync("just some words\n"));
    const scan = await scanDataset(file);
    expect(scan.blocking).toMatchObject([{ code: "DATA_UNSUPPORTED_FORMAT", file, message: "unknown format (extension '.txt' under '.gz')" }]);
  });

  it("the snapshot of a compressed file holds the decompressed rows", async () => {
    const run = mkdtempSync(join(tmpdir(), "whetstone-compressed-run-"));
    const m = await writeSnapshot(join(SHAPES, "openai-messages.jsonl.zst"), run);
    const plain = await read(join(SHAPES, "openai-messages.jsonl"));
    expect(m.rows).toBe(plain.rows.length);
    expect(readFileSync(join(run, "data", "train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))).toEqual(plain.rows);
  });
});

describe("folders of shards", () => {
  it("shards read in name order as one dataset, each row cited by its file and line; broken entries are skipped with a warning", async () => {
    const dir = join(tmp, "shards");
    mkdirSync(join(dir, "data"), { recursive: true });
    const all = chatLines(9);
    for (let s = 0; s < 3; s++) writeFileSync(join(dir, "data", `train-0000${s}-of-00003.jsonl.gz`), gzipSync(all.slice(3 * s, 3 * s + 3).join("\n") + "\n"));
    symlinkSync(join(dir, "gone.jsonl"), join(dir, "data", "dangling.jsonl"));
    symlinkSync(join(dir, "data", "loop.jsonl"), join(dir, "data", "loop.jsonl"));
    writeFileSync(join(dir, "README.md"), "# not data\n");
    const { rows, places, scan } = await read(dir);
    expect(rows.map((r) => ("messages" in r ? r.messages[1]!.content : ""))).toEqual(all.map((_, i) => `answer ${i + 1}`));
    expect(places.slice(0, 4)).toEqual(["data/train-00000-of-00003.jsonl.gz:1", "data/train-00000-of-00003.jsonl.gz:2", "data/train-00000-of-00003.jsonl.gz:3", "data/train-00001-of-00003.jsonl.gz:1"]);
    const skipped = scan.log.issues().filter((i) => i.code === "DATA_SKIPPED_ENTRY");
    expect(skipped.map((i) => [i.file.slice(dir.length + 1), i.severity])).toEqual([
      ["data/dangling.jsonl", "warning"],
      ["data/loop.jsonl", "warning"],
    ]);
    expect(skipped[0]!.message).toContain("a link to nothing readable");
    expect(scan.blocking).toEqual([]);
  });

  it.skipIf(process.platform !== "linux")("a file that cannot be read is an error that names it, not a stack trace", async () => {
    // /proc/self/mem is a file whose first bytes cannot be read (EIO), whoever runs the test.
    await expect(scanDataset("/proc/self/mem")).rejects.toMatchObject({ code: "DATA_UNREADABLE", message: "Cannot read /proc/self/mem: an input/output error" });
  });

  it("shards of one set with different schemas are an error naming both files", async () => {
    const dir = join(tmp, "mixed-shards");
    mkdirSync(dir);
    writeFileSync(join(dir, "train-00000-of-00002.jsonl"), JSON.stringify({ instruction: "Say hi.", input: "", output: "Hi!" }) + "\n");
    writeFileSync(join(dir, "train-00001-of-00002.jsonl"), JSON.stringify({ conversations: [{ from: "human", value: "Hi" }, { from: "gpt", value: "Hello" }] }) + "\n");
    const scan = await scanDataset(dir);
    expect(scan.blocking).toMatchObject([{ code: "DATA_MIXED_SCHEMA" }]);
    expect(scan.blocking[0]!.message).toContain("train-00000-of-00002.jsonl is alpaca");
    expect(scan.blocking[0]!.message).toContain("train-00001-of-00002.jsonl is sharegpt");
  });

  it("a missing shard of a numbered set is a warning that names it", async () => {
    const dir = join(tmp, "missing-shard");
    mkdirSync(dir);
    for (const s of [0, 2]) writeFileSync(join(dir, `train-0000${s}-of-00003.jsonl`), chatLines(1, `${s} `)[0] + "\n");
    const scan = await scanDataset(dir);
    expect(scan.log.issues().filter((i) => i.code === "DATA_SHARD_MISSING")).toMatchObject([{ severity: "warning", message: expect.stringContaining("train-00001-of-00003.jsonl is missing: 2 of 3 shards are here") }]);
  });
});
