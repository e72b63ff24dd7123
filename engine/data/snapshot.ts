/**
 * The data snapshot a run trains on: the source (any supported format and schema, a file or a
 * folder) is read, never written, each row validated and normalized to `{"messages": [...]}`, and
 * the result stored in the run folder with the source's sha256, so a run can be reproduced and
 * audited after the source changes.
 *
 * One streaming pass validates and writes at once (temp files, renamed into place only when the
 * data is good). Rows with errors block the run unless the user chose to skip them
 * (data.skip_invalid / --skip-invalid); skipped rows are listed in the manifest. In the rare case
 * where a file's first rows had the minority schema (see scan.ts), the pass is repeated with the
 * schemas now known, so the snapshot never holds rows of the wrong shape.
 */
import { dataKindFor } from "../config/methods";
import { mkdirSync, createWriteStream, renameSync, rmSync, type WriteStream } from "node:fs";
import { finished } from "node:stream/promises";
import { createHash } from "node:crypto";
import { dirname, join, relative } from "node:path";
import { once } from "node:events";
import { writeJsonAtomic } from "../util/atomic";
import { diskFullError, guardDisk, isDiskFull } from "../util/disk";
import { WhetstoneError } from "../util/errors";
import { formatLocation } from "./issues";
import { scanDataset, type ScanOptions, type ScanResult, type ScannedRow } from "./scan";
import type { DataIssue, FileFormat, IngestOptions, Sample, SchemaName } from "./types";

export interface SourceInfo {
  source: string;
  source_sha256: string;
  source_bytes: number;
  rows: number;
  format: FileFormat | "mixed" | null;
  schema: SchemaName | "mixed" | null;
  /** Rows left out (invalid rows with skip_invalid; exact duplicates with dedupe), listed. */
  skipped: { count: number; duplicates: number; rows: SkippedRow[] };
}

export interface SkippedRow {
  file: string;
  line?: number;
  row: number;
  code: string;
  message: string;
}

export interface SnapshotManifest extends SourceInfo {
  /** Held-out conversations: from data.validation, or split off train (then `split` says how). */
  validation: (SourceInfo & { split: { fraction: number; seed: number } | null }) | null;
  notes: string[];
  created_at: string;
}

export interface SnapshotProgress {
  bytes: number;
  totalBytes: number;
  rows: number;
  elapsed_s: number;
  eta_s: number | null;
}

export interface SnapshotOptions extends IngestOptions {
  validation?: string | null;
  validationSplit?: number;
  seed?: number;
  /** Train on the valid rows and list the invalid ones, instead of refusing the data. */
  skipInvalid?: boolean;
  /** Keep only the first copy of exact duplicates. */
  dedupe?: boolean;
  /** The run's method: sft snapshots conversations, dpo/simpo/orpo preference pairs, kto conversations with their label, grpo prompts with their fields. */
  method?: ScanOptions["method"];
  /** grpo: the fields every row must have (those its rewards compare completions with). */
  promptFields?: readonly string[];
  onProgress?: (p: SnapshotProgress) => void;
}

const MAX_LISTED_SKIPS = 10_000;
const MAX_REPORTED = 20;

/**
 * Write data/train.jsonl (and data/validation.jsonl) for a run. A split sends each conversation to
 * validation when a seeded hash of its content falls under the fraction: independent of file order,
 * and exact duplicates always land on the same side, so none leaks from train into validation.
 */
export async function writeSnapshot(source: string, runDir: string, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
  const dataDir = join(runDir, "data");
  guardDisk(runDir, "the data folder", () => mkdirSync(dataDir, { recursive: true }));
  const split = opts.validation ? 0 : (opts.validationSplit ?? 0);
  const seed = opts.seed ?? 0;
  const train = new JsonlOut(join(dataDir, "train.jsonl"));
  const held = split > 0 || opts.validation ? new JsonlOut(join(dataDir, "validation.jsonl")) : undefined;
  const outs = [train, held];
  try {
    const main = await snapshotPass(source, opts, (row) => (held && split > 0 && splitFraction(seed, row) < split ? held : train));
    let validation: SnapshotManifest["validation"] = null;
    const notes = [...main.notes];
    if (held && opts.validation) {
      const v = await snapshotPass(opts.validation, { ...opts, onProgress: undefined }, () => held);
      validation = { ...v.info, rows: v.written.get(held) ?? 0, split: null };
      notes.push(...v.notes.map((n) => `validation: ${n}`));
    } else if (held) {
      validation = { ...main.info, rows: main.written.get(held) ?? 0, split: { fraction: split, seed } };
    }
    const trainRows = main.written.get(train) ?? 0;
    if (trainRows === 0 || (validation && validation.rows === 0)) {
      const which = trainRows === 0 ? "training" : "validation";
      throw new WhetstoneError({
        code: "DATA_EMPTY",
        message: `The ${which} set is empty after splitting ${main.info.rows} conversations with validation_split ${split}.`,
        hint: "Use more data or a different data.validation_split.",
        where: source,
      });
    }
    await Promise.all(outs.map((o) => o?.commit()));
    const manifest: SnapshotManifest = { ...main.info, rows: trainRows, validation, notes, created_at: new Date().toISOString() };
    writeJsonAtomic(join(dataDir, "manifest.json"), manifest);
    return manifest;
  } catch (e) {
    await Promise.all(outs.map((o) => o?.abort()));
    throw e;
  }
}

/** Validate and write one source; repeated once with fixed schemas if the first read re-read a file. */
type Row = Sample | Record<string, unknown>;

async function snapshotPass(source: string, opts: SnapshotOptions, target: (row: Row) => JsonlOut) {
  let attempt = await writeRows(source, opts, target, undefined);
  if (attempt.scan.reread) {
    for (const out of attempt.written.keys()) await out.reset();
    attempt = await writeRows(source, opts, target, attempt.scan.files.map((f) => f.schema));
  }
  const { scan, written, skipped, duplicates } = attempt;
  refuseIfInvalid(source, scan, Boolean(opts.skipInvalid));
  const formats = [...new Set(scan.files.map((f) => f.format))];
  const schemas = [...new Set(scan.files.map((f) => f.schema))];
  const notes = scan.log
    .summaries()
    .filter((s) => s.severity === "warning")
    .map((s) => `${s.code}: ${s.rows > 1 ? `${s.rows} rows, first ` : ""}${formatLocation(s.first, source)}: ${s.message}`);
  if (skipped.length) notes.push(`${skipped.length} invalid row${skipped.length === 1 ? " was" : "s were"} skipped (data.skip_invalid); see skipped.rows.`);
  if (duplicates) notes.push(`${duplicates} exact duplicate${duplicates === 1 ? " was" : "s were"} removed (data.dedupe).`);
  notes.push(...scan.notes);
  const info: SourceInfo = {
    source,
    source_sha256: scan.sha256,
    source_bytes: scan.bytes,
    rows: scan.stats.samples - duplicates,
    format: formats.length === 1 ? formats[0]! : formats.length ? "mixed" : null,
    schema: schemas.length === 1 ? schemas[0]! : schemas.length ? "mixed" : null,
    skipped: { count: skipped.length + duplicates, duplicates, rows: skipped.slice(0, MAX_LISTED_SKIPS) },
  };
  return { info, written, notes };
}

async function writeRows(source: string, opts: SnapshotOptions, target: (row: Row) => JsonlOut, fileSchemas: (SchemaName | null)[] | undefined) {
  const method = opts.method ?? "sft";
  const written = new Map<JsonlOut, number>();
  const skipped: SkippedRow[] = [];
  let duplicates = 0;
  const onRow = (row: ScannedRow): Promise<void> | void => {
    if (!row.valid || !row.sample) {
      const first = row.issues.find((i) => i.severity === "error");
      if (first) skipped.push({ file: row.file, ...(row.line !== undefined ? { line: row.line } : {}), row: row.row, code: first.code, message: first.message });
      return;
    }
    if (opts.dedupe && row.duplicateOf) {
      duplicates++;
      return;
    }
    const s = row.sample;
    // Another kind than the method trains on: refused below (DATA_METHOD_MISMATCH).
    const wants = dataKindFor(method);
    if (wants === "chat" ? !("messages" in s) : wants === "unpaired" ? !("label" in s) : wants === "prompt" ? !("fields" in s) : !("chosen" in s)) return;
    // Unpaired rows reach sft as conversations (those labelled false were left out by the scan), kto with their labels;
    // a grpo row is flat, its prompt beside the fields its rewards read (the worker's data/prompts.py).
    const tools = "tools" in s && s.tools ? { tools: s.tools } : {};
    const sample: Row =
      wants === "unpaired" && "label" in s
        ? { messages: s.messages, label: s.label, ...tools }
        : "fields" in s
          ? { prompt: s.prompt, ...s.fields, ...tools }
          : "messages" in s
            ? { messages: s.messages, ...tools }
            : "chosen" in s
              ? { prompt: s.prompt, chosen: s.chosen, rejected: s.rejected, ...tools }
              : s;
    const out = target(sample);
    written.set(out, (written.get(out) ?? 0) + 1);
    return out.write(sample);
  };
  const scan = await scanDataset(source, {
    format: opts.format,
    schema: opts.schema,
    columns: opts.columns,
    roles: opts.roles,
    method,
    promptFields: opts.promptFields,
    fileSchemas,
    onRow,
    onProgress: opts.onProgress ? (p) => opts.onProgress!({ bytes: p.bytes, totalBytes: p.totalBytes, rows: p.rows, elapsed_s: p.elapsed_s, eta_s: p.eta_s }) : undefined,
  });
  return { scan, written, skipped, duplicates };
}

/** Throw with every problem's place when the data cannot be trained on as asked. */
function refuseIfInvalid(source: string, scan: ScanResult, skipInvalid: boolean): void {
  const invalid = scan.stats.invalid;
  if (scan.blocking.length === 0 && (invalid === 0 || skipInvalid) && scan.stats.samples > 0) return;
  const place = (i: DataIssue) => (scan.files.length > 1 ? `${relative(source, i.file)}:` : "") + (i.element !== undefined ? `element ${i.element}` : i.line !== undefined ? `line ${i.line}` : i.row !== undefined ? `row ${i.row}` : "file");
  const errors = scan.log.issues().filter((i) => i.severity === "error");
  const lines = errors.slice(0, MAX_REPORTED).map((i) => `${place(i)}: ${i.message} [${i.code}]`);
  const more = scan.log.count("error") - lines.length;
  if (more > 0) lines.push(`… and ${more} more`);
  if (scan.blocking.length > 0) {
    const b = scan.blocking[0]!;
    throw new WhetstoneError({ code: b.code, message: `${formatLocation(b)}: ${b.message}`, hint: b.hint, where: formatLocation(b), details: lines.length > 1 ? lines : undefined });
  }
  if (scan.stats.samples === 0 && invalid === 0) {
    throw new WhetstoneError({ code: "DATA_EMPTY", message: `${source} has no conversations`, hint: "Add one conversation per line.", where: source });
  }
  const first = errors[0]!;
  throw new WhetstoneError({
    code: "DATA_INVALID",
    message: `${source}: ${invalid} invalid row${invalid === 1 ? "" : "s"}; first: ${lines[0]}`,
    hint: `${first.hint} \`whetstone data check ${source}\` lists every problem.${scan.stats.samples > 0 && !skipInvalid ? ` To train on the ${scan.stats.samples} valid row${scan.stats.samples === 1 ? "" : "s"}, set data.skip_invalid: true or pass --skip-invalid.` : ""}`,
    where: formatLocation(first),
    details: lines.length > 1 ? lines : undefined,
  });
}

function splitFraction(seed: number, row: Row): number {
  return parseInt(createHash("sha256").update(`${seed}\n${JSON.stringify(row)}`).digest("hex").slice(0, 8), 16) / 2 ** 32;
}

/** A JSONL file written to a temp path and renamed into place only when complete. Lines are
 *  gathered into ~1 MB writes: one stream write per row costs more than validating the row.
 *  A write error (a full disk) is kept and thrown by the next call as DISK_FULL naming the folder;
 *  abort() always removes the temp file. */
class JsonlOut {
  private readonly tmp: string;
  private out: WriteStream;
  private failed: Error | undefined;
  private pending: string[] = [];
  private pendingChars = 0;
  constructor(private readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
    this.out = this.open();
  }
  private open(): WriteStream {
    const out = createWriteStream(this.tmp);
    out.on("error", (e) => (this.failed ??= e));
    return out;
  }
  private check(): void {
    if (!this.failed) return;
    throw isDiskFull(this.failed) ? diskFullError(dirname(this.path), "the run's data snapshot", this.failed) : this.failed;
  }
  /** Returns a promise only when the buffer was flushed into a full stream. */
  write(row: Row): Promise<void> | void {
    const line = JSON.stringify(row);
    this.pending.push(line);
    this.pendingChars += line.length + 1;
    if (this.pendingChars >= 1 << 20) return this.flush();
  }
  private flush(): Promise<void> | void {
    this.check();
    if (this.pending.length === 0) return;
    const ok = this.out.write(this.pending.join("\n") + "\n");
    this.pending = [];
    this.pendingChars = 0;
    if (!ok) return this.settled(once(this.out, "drain"));
  }
  /** Wait for `event`, or for the stream's error (once() rejects on it), as the error check() throws. */
  private async settled(event: Promise<unknown>): Promise<void> {
    await event.catch((e: Error) => (this.failed ??= e));
    this.check();
  }
  /** Start over (the pass is being repeated). */
  async reset(): Promise<void> {
    this.pending = [];
    this.pendingChars = 0;
    this.out.end();
    await this.settled(finished(this.out));
    this.out = this.open();
  }
  async commit(): Promise<void> {
    await this.flush();
    this.out.end();
    await this.settled(finished(this.out));
    renameSync(this.tmp, this.path);
  }
  async abort(): Promise<void> {
    this.pending = [];
    this.out.destroy();
    await finished(this.out).catch(() => undefined);
    rmSync(this.tmp, { force: true });
  }
}
