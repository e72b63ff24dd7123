/** What every format reader gets and gives: the context it reports into, and batches of records. */
import type { DataIssue, IngestOptions, RawRecord } from "../types";
import type { Compression } from "./compression";

export interface ReaderContext {
  file: string;
  opts: IngestOptions;
  /** The file's compression (by its first bytes); the reader sees the decompressed text. */
  compression?: Compression | null;
  /** File-level issues (byte-order mark, empty file, a syntax error that ends the file). */
  report: (issue: DataIssue) => void;
  /** Raw bytes consumed, for progress. */
  onBytes: (n: number) => void;
  /** Filled in by the reader when the file has been read to the end. */
  result: { bytes: number; sha256: string };
}

/** Records in batches (one per chunk of input), so per-record overhead stays synchronous. */
export type RecordStream = AsyncGenerator<RawRecord[], void, void>;

export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
export const CHUNK_BYTES = 1 << 20;
