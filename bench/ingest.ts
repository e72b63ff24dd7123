/**
 * Dataset ingestion throughput (issue #5's goal: a 1 GB JSONL validated at ≥ 50 MB/s in < 300 MB
 * resident memory). Generates a JSONL of unique chat conversations (mixed lengths, some non-ASCII,
 * a few bad lines) in a temp folder, then times, each in a fresh process so peak RSS is its own:
 *
 *   baseline       node:readline counting the lines of the same file (the floor of "reading it")
 *   parse          read, split lines, JSON.parse each: the floor of reading JSONL at all
 *   validate       scanDataset: UTF-8 check, JSON parse, schema, normalization, turn checks, duplicates
 *   snapshot       writeSnapshot with skipInvalid: validate + write the run's normalized train.jsonl
 *   tokenize       the first 2,000 rows with the tiny model's tokenizer (chat template, prefix-diff
 *                  masks), to show what token statistics (`data check --model`) cost
 *   gzip-parse     the same file gzipped (level 6): zlib gunzip stream, split, JSON.parse each line
 *   gzip-validate  scanDataset on the .jsonl.gz (decompressed as it streams)
 *
 * MB/s are of the JSONL text (decompressed bytes for the gzip modes), so plain and gzip compare on
 * the same work; each validate is also given as a ratio to its parse floor from the same run, which
 * holds on a busy machine where absolute figures do not.
 *
 * The fast modes run in `--rounds` interleaved rounds (default 2) and keep their fastest; snapshot
 * and tokenize run once.
 *
 *   npm run bench -- ingest [--gb 1] [--rounds 2] [--keep]
 */
import { spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { pipeline } from "node:stream/promises";
import { createGzip, createGunzip } from "node:zlib";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../engine/paths";
import { describeMachine } from "./machine";

const SELF = fileURLToPath(import.meta.url);
const TOKENIZE_ROWS = 2000;

interface Measure {
  mode: string;
  /** Every round's seconds (the figures are the fastest round's). */
  rounds_s?: number[];
  seconds: number;
  bytes: number;
  rows: number;
  mb_per_s: number;
  peak_rss_mb: number;
  detail?: Record<string, unknown>;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { gb: { type: "string" }, rounds: { type: "string" }, keep: { type: "boolean" }, child: { type: "string" }, file: { type: "string" }, out: { type: "string" } } });
  if (values.child) return child(values.child, values.file!);
  const gb = Number(values.gb ?? 1);
  const work = mkdtempSync(join(tmpdir(), "whetstone-ingest-"));
  const file = join(work, "data.jsonl");
  try {
    const t0 = performance.now();
    const generated = await generate(file, gb * 1e9);
    writeFileSync(join(work, "rows.txt"), String(generated.rows));
    console.log(`generated ${(generated.bytes / 1e9).toFixed(2)} GB, ${generated.rows.toLocaleString("en-US")} rows (${generated.bad} bad lines) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await pipeline(createReadStream(file), createGzip({ level: 6 }), createWriteStream(`${file}.gz`));
    const gzBytes = statSync(`${file}.gz`).size;
    console.log(`gzipped to ${(gzBytes / 1e9).toFixed(2)} GB`);
    const loadBefore = loadavg()[0]!;
    // Rounds, interleaved, best time kept: on a shared machine one slow round says little.
    const rounds = Math.max(1, Number(values.rounds ?? 2));
    const all: Measure[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const mode of ["baseline", "parse", "validate", "gzip-parse", "gzip-validate", ...(round === 1 ? ["snapshot", "tokenize"] : [])]) {
        const r = spawnSync(process.execPath, ["--import", "tsx", SELF, "--child", mode, "--file", file], { cwd: PROJECT_ROOT, encoding: "utf8", maxBuffer: 1 << 24 });
        if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`);
        const m = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Measure;
        all.push(m);
        console.log(`${round} ${mode.padEnd(13)} ${m.mb_per_s.toFixed(1).padStart(7)} MB/s  ${m.seconds.toFixed(1).padStart(6)} s  peak RSS ${m.peak_rss_mb.toFixed(0)} MB  ${m.rows.toLocaleString("en-US")} rows`);
      }
    }
    const results = [...new Set(all.map((m) => m.mode))].map((mode) => {
      const runs = all.filter((m) => m.mode === mode);
      const best = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
      return { ...best, rounds_s: runs.map((m) => Number(m.seconds.toFixed(2))) };
    });
    const by = (mode: string) => results.find((r) => r.mode === mode)!;
    const [validate, gz] = [by("validate"), by("gzip-validate")];
    const ratios = { validate_over_parse: validate.mb_per_s / by("parse").mb_per_s, gzip_validate_over_gzip_parse: gz.mb_per_s / by("gzip-parse").mb_per_s, gzip_validate_over_validate: gz.mb_per_s / validate.mb_per_s };
    const verdict = {
      goal: "on ≥ 1 GB of JSONL text, < 300 MB peak RSS: validate ≥ 50 MB/s; validate of the .jsonl.gz ≥ 30 MB/s, and (load-proof, same run) at least 60% of plain validation's speed",
      met: validate.mb_per_s >= 50 && gz.mb_per_s >= 30 && gz.mb_per_s >= 0.6 * validate.mb_per_s && Math.max(validate.peak_rss_mb, gz.peak_rss_mb) < 300 && generated.bytes >= 1e9,
    };
    const command = `npm run bench -- ingest${argv.length ? " " + argv.join(" ") : ""}`;
    // Others' work on the machine slows every mode alike: the ratios to the parse floors hold, absolute MB/s do not.
    const load = { before: loadBefore, after: loadavg()[0]!, cores: cpus().length };
    const record = { bench: "ingest", command, machine: describeMachine(), load, file: { bytes: generated.bytes, gzip_bytes: gzBytes, rows: generated.rows, bad_lines: generated.bad }, results, ratios, verdict };
    const outDir = values.out ?? join(PROJECT_ROOT, "bench", "results");
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, "ingest.json"), JSON.stringify(record, null, 2) + "\n");
    writeFileSync(join(outDir, "ingest.md"), markdown(record) + "\n");
    console.log(markdown(record));
  } finally {
    if (!values.keep) rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

/** Unique conversations of mixed length; every 100,000th line is broken JSON. */
async function generate(file: string, target: number): Promise<{ bytes: number; rows: number; bad: number }> {
  const words = "the model learns from each example and the answer should be short clear and correct über café naïve 数据 données".split(" ");
  const out = createWriteStream(file, { highWaterMark: 1 << 22 });
  let bytes = 0;
  let rows = 0;
  let bad = 0;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(" ");
  while (bytes < target) {
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      rows++;
      const turns = 1 + Math.floor(rand() * 3);
      const messages: { role: string; content: string }[] = rand() < 0.2 ? [{ role: "system", content: "You are a helpful assistant." }] : [];
      for (let t = 0; t < turns; t++) messages.push({ role: "user", content: `Question ${rows}.${t}: ${sentence(5 + Math.floor(rand() * 40))}?` }, { role: "assistant", content: sentence(10 + Math.floor(rand() * 200)) });
      let line = JSON.stringify({ messages });
      if (rows % 100_000 === 0) {
        line = line.slice(0, -2);
        bad++;
      }
      lines.push(line);
    }
    const chunk = lines.join("\n") + "\n";
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { bytes: statSync(file).size, rows, bad };
}

async function child(mode: string, file: string): Promise<void> {
  const bytes = statSync(file).size;
  // Module loading (tsx transpiles on first import) is not throughput: load before the clock starts.
  const { scanDataset } = await import("../engine/data/scan");
  const { writeSnapshot } = await import("../engine/data/snapshot");
  const t0 = performance.now();
  let rows = 0;
  let measuredBytes = bytes;
  let detail: Record<string, unknown> | undefined;
  if (mode === "baseline") {
    for await (const _ of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) rows++;
  } else if (mode === "parse" || mode === "gzip-parse") {
    // The floor: bytes to lines to JSON values, nothing checked (the scanner's own way of reading
    // lines: newline search on the bytes, one UTF-8 decode per line), counting the parse failures.
    const input = mode === "parse" ? createReadStream(file, { highWaterMark: 1 << 20 }) : createReadStream(`${file}.gz`, { highWaterMark: 1 << 20 }).pipe(createGunzip({ chunkSize: 256 * 1024 }));
    let carry: Buffer = Buffer.alloc(0);
    let bad = 0;
    const parse = (b: Buffer, from: number, to: number) => {
      if (to <= from) return;
      rows++;
      try {
        JSON.parse(b.toString("utf8", from, to));
      } catch {
        bad++;
      }
    };
    for await (const raw of input) {
      const chunk = carry.length ? Buffer.concat([carry, raw as Buffer]) : (raw as Buffer);
      let pos = 0;
      for (let nl = chunk.indexOf(10, pos); nl >= 0; nl = chunk.indexOf(10, pos)) {
        parse(chunk, pos, nl);
        pos = nl + 1;
      }
      carry = chunk.subarray(pos);
    }
    parse(carry, 0, carry.length);
    detail = { unparsable: bad };
  } else if (mode === "gzip-validate") {
    const scan = await scanDataset(`${file}.gz`);
    rows = scan.stats.rows;
    detail = { gzip_bytes: statSync(`${file}.gz`).size, samples: scan.stats.samples, invalid: scan.stats.invalid, errors: scan.log.count("error") };
  } else if (mode === "validate") {
    const scan = await scanDataset(file);
    rows = scan.stats.rows;
    detail = { samples: scan.stats.samples, invalid: scan.stats.invalid, errors: scan.log.count("error"), duplicates: scan.stats.duplicates };
  } else if (mode === "snapshot") {
    const run = mkdtempSync(join(tmpdir(), "whetstone-ingest-run-"));
    try {
      const m = await writeSnapshot(file, run, { skipInvalid: true });
      rows = m.rows + m.skipped.count;
      detail = { written_rows: m.rows, skipped: m.skipped.count };
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  } else if (mode === "tokenize") {
    const { loadChatTokenizer } = await import("../engine/data/tokenizer");
    const tokenizer = await loadChatTokenizer(join(PROJECT_ROOT, ".cache", "fixtures", "tiny-llama"));
    let read = 0;
    const scan = await scanDataset(file, { tokenizer, maxLength: 4096, onRow: (r) => ((read += 1), r.index + 1 < TOKENIZE_ROWS) });
    rows = read;
    // The rows' share of the file, for a comparable MB/s.
    const total = Number(readFileSync(join(file, "..", "rows.txt"), "utf8"));
    measuredBytes = Math.round((bytes * rows) / total);
    detail = { tokenized_samples: scan.stats.result({ tokenizer: "tiny-llama", templateSource: null, maxLength: 4096, overlong: "drop" }).tokens!.samples, note: `the first ${TOKENIZE_ROWS} rows through the chat template and tokenizer (prefix-diff masks)` };
  }
  const seconds = (performance.now() - t0) / 1000;
  const m: Measure = { mode, seconds, bytes: measuredBytes, rows, mb_per_s: measuredBytes / 1e6 / seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024, ...(detail ? { detail } : {}) };
  process.stdout.write(JSON.stringify(m) + "\n");
}

function markdown(r: {
  command: string;
  machine: Record<string, unknown>;
  load: { before: number; after: number; cores: number };
  file: { bytes: number; gzip_bytes: number; rows: number; bad_lines: number };
  results: Measure[];
  ratios: { validate_over_parse: number; gzip_validate_over_gzip_parse: number; gzip_validate_over_validate: number };
  verdict: { goal: string; met: boolean };
}): string {
  const lines = [
    "# Dataset ingestion throughput",
    "",
    `Command: \`${r.command}\``,
    "",
    `Machine: ${r.machine.cpu} (${r.machine.cores} cores), ${r.machine.memory_gib} GiB, ${r.machine.platform}, node ${r.machine.node}, ${r.machine.date}; 1-minute load average ${r.load.before.toFixed(1)} before the runs, ${r.load.after.toFixed(1)} after (on ${r.load.cores} cores).`,
    "",
    `File: ${(r.file.bytes / 1e9).toFixed(2)} GB JSONL (${(r.file.gzip_bytes / 1e9).toFixed(2)} GB gzipped), ${r.file.rows.toLocaleString("en-US")} chat conversations (1–3 turns, some non-ASCII), ${r.file.bad_lines} broken lines. Each mode runs in a fresh process; peak RSS is that process's maximum resident set. MB/s are of the JSONL text (decompressed, for gzip).`,
    "",
    "| mode | what it does | MB/s | seconds (best) | every round (s) | peak RSS (MB) |",
    "|---|---|---|---|---|---|",
  ];
  const what: Record<string, string> = {
    baseline: "node:readline line count (baseline)",
    parse: "read, split lines, JSON.parse each (parse floor)",
    "gzip-parse": "zlib gunzip stream, split lines, JSON.parse each (gzip parse floor)",
    "gzip-validate": "full validation of the .jsonl.gz, decompressed as it streams",
    validate: "full validation (scanDataset): UTF-8, JSON, schema, roles, turns, duplicates",
    snapshot: "validate + write the normalized snapshot (skip invalid)",
    tokenize: `validation + chat template + tokenizer (first ${TOKENIZE_ROWS} rows)`,
  };
  for (const m of r.results) lines.push(`| ${m.mode} | ${what[m.mode]} | ${m.mb_per_s.toFixed(1)} | ${m.seconds.toFixed(1)} | ${(m.rounds_s ?? []).join(", ")} | ${m.peak_rss_mb.toFixed(0)} |`);
  lines.push(
    "",
    `Same-run ratios: validation runs at ${(100 * r.ratios.validate_over_parse).toFixed(0)}% of its parse floor (plain) and ${(100 * r.ratios.gzip_validate_over_gzip_parse).toFixed(0)}% (gzip); validating the .jsonl.gz runs at ${(100 * r.ratios.gzip_validate_over_validate).toFixed(0)}% of validating the plain file.`,
    "",
    `Goal: ${r.verdict.goal}: **${r.verdict.met ? "met" : "not met"}**.`,
  );
  return lines.join("\n");
}

// Each measurement runs this file as its own process (`--child MODE`).
if (process.argv[1] === SELF) await main(process.argv.slice(2));
