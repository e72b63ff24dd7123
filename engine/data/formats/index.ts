/**
 * Which files a dataset path stands for (a file, or every data file under a folder, in name
 * order: shards `train-00000-of-00003.parquet`, `data/part-*.jsonl.gz` read as one dataset), what
 * format each is in, and the reader for it. The format comes from the name under any compression
 * suffix (`x.jsonl.gz` is JSON Lines), checked against the first (decompressed) bytes: the classic
 * mistake is JSON Lines saved as .json, or the reverse. Compression comes from the first bytes,
 * whatever the name says. A folder walk never throws on one bad entry (a broken link, a folder it
 * may not read): it skips it and says so.
 */
import { closeSync, openSync, readdirSync, readSync, statSync, type Dirent } from "node:fs";
import { extname, join, relative } from "node:path";
import { WhetstoneError } from "../../util/errors";
import { makeIssue } from "../issues";
import type { DataIssue, FileFormat } from "../types";
import { COMPRESSION_SUFFIXES, DECOMPRESS_COMMAND, READABLE, compressionOf, decompressHead, type Compression } from "./compression";
import { readCsv } from "./csv";
import { readJson } from "./json";
import { readJsonl } from "./jsonl";
import { readParquet } from "./parquet";
import type { ReaderContext, RecordStream } from "./reader";

const BY_EXTENSION: Record<string, FileFormat> = {
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".jsonlines": "jsonl",
  ".json": "json",
  ".csv": "csv",
  ".tsv": "tsv",
  ".tab": "tsv",
  ".parquet": "parquet",
  ".pq": "parquet",
};

export interface DataFile {
  path: string;
  format: FileFormat | null;
  bytes: number;
  /** Set when the file is compressed (by its first bytes). */
  compression?: Compression;
  /** Why the format differs from the extension's, or why there is none (then it is the error). */
  note?: string;
  /** With no format: what to do about it. */
  hint?: string;
}

/** A name's data extension, under a compression suffix: `train.jsonl.gz` → `.jsonl`. */
export function dataExtension(name: string): { ext: string; compressedAs: Compression | null } {
  const outer = extname(name).toLowerCase();
  const compressedAs = COMPRESSION_SUFFIXES[outer] ?? null;
  return { ext: compressedAs ? extname(name.slice(0, -outer.length)).toLowerCase() : outer, compressedAs };
}

/**
 * The data files a path stands for. A folder is searched recursively in name order; hidden entries
 * are skipped, and so, with a DATA_SKIPPED_ENTRY warning to `onSkip`, are entries that cannot be
 * read (a broken link, a link loop, a folder without permission).
 */
export function listDataFiles(path: string, format?: FileFormat, onSkip?: (issue: DataIssue) => void): DataFile[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new WhetstoneError({ code: "DATA_NOT_FOUND", message: `No file or folder at ${path}`, hint: "Check the path.", where: path });
  }
  if (st.isFile()) {
    try {
      return [{ path, bytes: st.size, ...detectFormat(path, format) }];
    } catch (e) {
      throw new WhetstoneError({ code: "DATA_UNREADABLE", message: `Cannot read ${path}: ${reason(e)}`, hint: "Check that the file is readable by you (its permissions), and not on a disconnected drive.", where: path });
    }
  }
  const files: DataFile[] = [];
  const skip = (p: string, why: string) => onSkip?.(makeIssue("DATA_SKIPPED_ENTRY", { file: p }, why));
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      return skip(dir, `the folder cannot be read (${reason(e)}); it was skipped`);
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (entry.name.startsWith(".")) continue;
      const p = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(p);
        continue;
      }
      if (!format && !BY_EXTENSION[dataExtension(entry.name).ext]) continue;
      // Files linked in (the Hugging Face cache's snapshots link every file to its blob) count as files.
      let target;
      try {
        target = statSync(p);
      } catch (e) {
        skip(p, entry.isSymbolicLink() ? `a link to nothing readable (${reason(e)}); it was skipped` : `cannot be read (${reason(e)}); it was skipped`);
        continue;
      }
      if (!target.isFile()) continue;
      try {
        files.push({ path: p, bytes: target.size, ...detectFormat(p, format) });
      } catch (e) {
        skip(p, `cannot be read (${reason(e)}); it was skipped`);
      }
    }
  };
  walk(path);
  if (files.length === 0) {
    throw new WhetstoneError({
      code: "DATA_EMPTY_FILE",
      message: `The folder ${path} has no data files (.jsonl, .json, .csv, .tsv, .parquet, also compressed as .gz or .zst)`,
      hint: "Put the dataset files in the folder, or point at a file.",
      where: path,
    });
  }
  return files;
}

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = { ENOENT: "it does not exist", EACCES: "permission denied", EPERM: "permission denied", ELOOP: "a loop of links", EIO: "an input/output error" };
  return (code && words[code]) ?? (e as Error).message;
}

/** The format (and compression) of one file: forced, or by its name checked against its first bytes. */
export function detectFormat(path: string, forced?: FileFormat): Omit<DataFile, "path" | "bytes"> {
  const { ext, compressedAs } = dataExtension(path);
  const raw = readHead(path, 64 * 1024);
  const compression = compressionOf(raw);
  const extra: { compression?: Compression } = compression ? { compression } : {};
  const said: string[] = [];
  if (compression && compressedAs !== compression) said.push(`the file is ${compression}-compressed${compressedAs ? ` (not ${compressedAs}, as its name says)` : ""}; read decompressed`);
  if (!compression && compressedAs) said.push(`the name says ${compressedAs} but the file is not compressed; read as it is`);
  if (compression && !READABLE.has(compression)) {
    return { format: null, ...extra, note: `the file is ${compression}-compressed; Whetstone reads ${[...READABLE].join(", ")}, not ${compression}`, hint: decompressHint(path, compression) };
  }
  const byExt = BY_EXTENSION[ext];
  if (compression && (byExt === "parquet" || (forced === "parquet"))) {
    return { format: null, ...extra, note: `a ${compression}-compressed Parquet file cannot be read as a stream (Parquet needs random access)`, hint: decompressHint(path, compression) };
  }
  const note = (more?: string) => {
    const all = [...said, ...(more ? [more] : [])];
    return all.length ? { note: `${path}: ${all.join("; ")}` } : {};
  };
  if (forced) return { format: forced, ...extra, ...note() };
  const head = compression ? decompressHead(raw, compression, 64 * 1024) : raw;
  const sniffed = sniff(head);
  if (byExt === "parquet" || byExt === "csv" || byExt === "tsv") return { format: byExt, ...extra, ...note() };
  if (byExt && (sniffed === null || sniffed === byExt)) return { format: byExt, ...extra, ...note() };
  if (byExt && sniffed && sniffed !== "parquet") {
    return { format: sniffed, ...extra, ...note(`it has the extension ${ext} but holds ${sniffed === "jsonl" ? "JSON Lines (one object per line)" : "one JSON document"}; read as ${sniffed}`) };
  }
  if (sniffed) return { format: sniffed, ...extra, ...note(byExt ? undefined : `format ${sniffed} recognized from its content`) };
  // The location names the file: the message does not repeat it.
  return { format: null, ...extra, note: `unknown format (extension '${ext || "none"}'${compressedAs ? ` under '${extname(path)}'` : ""})` };
}

function decompressHint(path: string, compression: Compression): string {
  return `Decompress it first, keeping the original: ${DECOMPRESS_COMMAND[compression]} ${shellQuote(path)}; then use the decompressed file.`;
}

function shellQuote(p: string): string {
  return /^[\w./:@%+-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** jsonl / json / parquet from the first bytes, or null when they do not say. */
function sniff(head: Buffer): FileFormat | null {
  if (head.subarray(0, 4).toString("latin1") === "PAR1") return "parquet";
  let text = head.toString("utf8");
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) return "json";
  if (!trimmed.startsWith("{")) return null;
  const lines = trimmed.split("\n").filter((l) => l.trim() !== "");
  if (lines.length < 2) return null; // one object: either format
  try {
    JSON.parse(lines[0]!);
    return lines[1]!.trimStart().startsWith("{") ? "jsonl" : null;
  } catch {
    // The first line alone is not a whole value: a pretty-printed (or broken) JSON document,
    // unless the first line is a broken JSONL record followed by more records.
    return /^\s*\{\s*"[^"]*"\s*:\s*\[/.test(lines[0]!) || lines[0]!.trim() === "{" ? "json" : null;
  }
}

export function readFile(format: FileFormat, ctx: ReaderContext): RecordStream {
  switch (format) {
    case "jsonl":
      return readJsonl(ctx);
    case "json":
      return readJson(ctx);
    case "csv":
      return readCsv(ctx, ",");
    case "tsv":
      return readCsv(ctx, "\t");
    case "parquet":
      return readParquet(ctx);
  }
}

export function displayPath(file: string, root: string): string {
  const rel = relative(root, file);
  return rel === "" ? file : rel;
}
