/**
 * Datasets that arrive as bytes: a browser's dropped File has no path on this machine, so the
 * loopback server streams the request body here and the wizard inspects the stored copy.
 *
 * The bytes go into `<home>/datasets/` only, into a hidden temporary file that is fsynced and
 * renamed once complete, named by the content's sha256 prefix so a second upload of the same file
 * lands on the same path (and nothing the user owns is ever touched). The size cap guards the disk
 * against a runaway client; it is far above any dataset one workstation fine-tunes on.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, extname, join } from "node:path";
import type { Readable } from "node:stream";
import { WhetstoneError } from "../util/errors";

export const MAX_UPLOAD_BYTES = 8 * 1024 ** 3;
// .yaml/.yml: a GLAN taxonomy picked in a browser (engine/synth/glan.ts reads it; dataset readers refuse it by name).
const ALLOWED_EXT = new Set([".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".yaml", ".yml"]);
/** Compression suffixes kept after the data extension (`train.jsonl.gz`); the reader streams them. */
const COMPRESSED_EXT = new Set([".gz", ".zst", ".zstd", ".bz2", ".xz"]);

export interface UploadedDataset {
  path: string;
  bytes: number;
  sha256: string;
}

/** A file name safe on every OS, keeping the extension the format detection reads. */
export function safeUploadName(name: string): string {
  const base = basename(name.replaceAll("\\", "/")).normalize("NFKC");
  const outer = extname(base).toLowerCase();
  const inner = COMPRESSED_EXT.has(outer) ? extname(base.slice(0, -outer.length)).toLowerCase() : "";
  const ext = inner && ALLOWED_EXT.has(inner) && inner !== ".parquet" ? inner + outer : outer;
  if (ext === outer && !ALLOWED_EXT.has(ext)) {
    throw new WhetstoneError({
      code: "DATA_UNSUPPORTED_FORMAT",
      message: `'${base}' is not a dataset file Whetstone reads (extension '${ext || "none"}').`,
      hint: `Use one of ${[...ALLOWED_EXT].join(", ")} (JSON Lines, JSON and CSV also as .gz, .zst, .bz2 or .xz).`,
    });
  }
  const stem = base.slice(0, base.length - ext.length).replace(/[^\p{L}\p{N}._-]+/gu, "_").replace(/^[._]+/, "").slice(0, 80) || "dataset";
  return stem + ext;
}

/** Stream `body` into `<home>/datasets/<sha12>-<name>`; the same content gives the same path. */
export async function saveUploadedDataset(home: string, name: string, body: Readable, maxBytes = MAX_UPLOAD_BYTES): Promise<UploadedDataset> {
  const safe = safeUploadName(name);
  const dir = join(home, "datasets");
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.upload-${randomBytes(6).toString("hex")}.tmp`);
  const hash = createHash("sha256");
  const fd = openSync(tmp, "w");
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        throw new WhetstoneError({ code: "DATA_UPLOAD_TOO_LARGE", message: `The upload of '${safe}' is over ${maxBytes} bytes.`, hint: "Point the engine at the file on disk instead (the CLI, or the desktop app, which reads files in place)." });
      }
      hash.update(chunk);
      writeSync(fd, chunk);
    }
    if (bytes === 0) throw new WhetstoneError({ code: "DATA_EMPTY_FILE", message: `'${safe}' is empty (0 bytes arrived).`, hint: "Choose a file with at least one record." });
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
  const sha256 = hash.digest("hex");
  const path = join(dir, `${sha256.slice(0, 12)}-${safe}`);
  if (existsSync(path)) rmSync(tmp, { force: true });
  else renameSync(tmp, path);
  return { path, bytes, sha256 };
}
