/**
 * Which files a dataset path stands for (a file, or every data file under a folder, sorted), what
 * format each is in (by extension, checked against the first bytes: the classic mistake is JSON
 * Lines saved as .json, or the reverse), and the reader for it.
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { WhetstoneError } from "../../util/errors";
import type { FileFormat } from "../types";
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
  /** Why the format differs from the extension's, or why there is none. */
  note?: string;
}

/** The data files a path stands for. A folder is searched recursively; hidden entries are skipped. */
export function listDataFiles(path: string, format?: FileFormat): DataFile[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new WhetstoneError({ code: "DATA_NOT_FOUND", message: `No file or folder at ${path}`, hint: "Check the path.", where: path });
  }
  if (st.isFile()) return [{ path, bytes: st.size, ...detectFormat(path, format) }];
  const files: DataFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (entry.name.startsWith(".")) continue;
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      // Files linked in (the Hugging Face cache's snapshots link every file to its blob) count as files.
      else if ((entry.isFile() || (entry.isSymbolicLink() && statSync(p).isFile())) && (format || BY_EXTENSION[extname(entry.name).toLowerCase()])) files.push({ path: p, bytes: statSync(p).size, ...detectFormat(p, format) });
    }
  };
  walk(path);
  if (files.length === 0) {
    throw new WhetstoneError({
      code: "DATA_EMPTY_FILE",
      message: `The folder ${path} has no data files (.jsonl, .json, .csv, .tsv, .parquet)`,
      hint: "Put the dataset files in the folder, or point at a file.",
      where: path,
    });
  }
  return files;
}

/** The format of one file: forced, or by extension checked against its first bytes. */
export function detectFormat(path: string, forced?: FileFormat): { format: FileFormat | null; note?: string } {
  if (forced) return { format: forced };
  const ext = extname(path).toLowerCase();
  const byExt = BY_EXTENSION[ext];
  const head = readHead(path, 64 * 1024);
  const sniffed = sniff(head);
  if (byExt === "parquet" || byExt === "csv" || byExt === "tsv") return { format: byExt };
  if (byExt && (sniffed === null || sniffed === byExt)) return { format: byExt };
  if (byExt && sniffed && sniffed !== "parquet") {
    return { format: sniffed, note: `${path} has the extension ${ext} but holds ${sniffed === "jsonl" ? "JSON Lines (one object per line)" : "one JSON document"}; read as ${sniffed}` };
  }
  if (sniffed) return { format: sniffed, note: byExt ? undefined : `${path}: format ${sniffed} recognized from its content` };
  return { format: null, note: `${path}: unknown format (extension '${ext || "none"}')` };
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
