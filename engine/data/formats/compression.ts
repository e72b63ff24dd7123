/**
 * Compressed dataset files, recognized by their first bytes (a `.jsonl` that is really gzip is
 * read as gzip; a `.gz` that is really plain text is read as text), decompressed as they stream:
 * gzip through node:zlib, zstd through fzstd (pure JavaScript; node:zlib has zstd only from Node
 * 22.15), bzip2 through unbzip2-stream (pure JavaScript) and xz through xz-decompress (xz-embedded
 * compiled to WebAssembly): no native addon, so nothing to build on the user's machine. Only gzip
 * and zstd can be decoded synchronously from the first 16 KiB for format sniffing; a bzip2 or xz
 * file's format comes from its name under the suffix (data.jsonl.xz). The sha256 and the progress count the file's own (compressed) bytes, so a run records the
 * file the user has; line numbers and byte offsets in issues are of the decompressed text.
 *
 * Parquet cannot be read from a compressed stream (its reader needs random access); Parquet's own
 * column compression (snappy, zstd, gzip) is the reader's business, not this module's.
 */
import { createReadStream } from "node:fs";
import { PassThrough, Readable, pipeline } from "node:stream";
import { constants as Z, createGunzip, gunzipSync } from "node:zlib";
import { Decompress } from "fzstd";
import unbzip2 from "unbzip2-stream";
import * as xzModule from "xz-decompress";
import { makeIssue } from "../issues";
import type { DataIssue } from "../types";
import { ByteTap } from "./bytes";
import { CHUNK_BYTES } from "./reader";

export type Compression = "gzip" | "zstd" | "bzip2" | "xz";

/** File name suffixes that say a file is compressed, and with what. */
export const COMPRESSION_SUFFIXES: Record<string, Compression> = { ".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bzip2", ".xz": "xz" };

/** What decompresses a file by hand, keeping the original. */
export const DECOMPRESS_COMMAND: Record<Compression, string> = { gzip: "gzip -dk", zstd: "zstd -d", bzip2: "bzip2 -dk", xz: "xz -dk" };

/** The compressions this build streams; any other would be refused with DECOMPRESS_COMMAND. */
export const READABLE: ReadonlySet<Compression> = new Set(["gzip", "zstd", "bzip2", "xz"]);

/** The compression a file's first bytes announce, or null for none. */
export function compressionOf(head: Uint8Array): Compression | null {
  const b = head;
  if (b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return "zstd";
  if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3] !== undefined && b[3] >= 0x31 && b[3] <= 0x39) return "bzip2";
  if (b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00) return "xz";
  return null;
}

/** The start of the decompressed text (at most `n` bytes), for format sniffing; empty when it cannot be decoded. */
export function decompressHead(head: Buffer, compression: Compression, n: number): Buffer {
  // 16 KiB of input decompresses to at most ~16 MB (deflate's ratio tops out near 1032:1).
  const input = head.subarray(0, 16 * 1024);
  try {
    if (compression === "gzip") return gunzipSync(input, { finishFlush: Z.Z_SYNC_FLUSH }).subarray(0, n);
    if (compression === "zstd") {
      const out: Uint8Array[] = [];
      let got = 0;
      const d = new Decompress((chunk) => {
        if (got < n) out.push(chunk);
        got += chunk.length;
      });
      d.push(input);
      return Buffer.concat(out).subarray(0, n);
    }
  } catch {
    // A damaged start: the read reports it with its place.
  }
  return Buffer.alloc(0);
}

/** A file's bytes as a reader consumes them: decompressed chunks, with the raw file hashed. */
export interface ByteSource {
  chunks: AsyncIterable<Buffer>;
  /** Why decompression stopped early (damaged or cut-short data), once `chunks` has ended. */
  failure: string | null;
  /** Hash whatever of the file the reader did not consume (it may stop early) and give the file's figures. */
  finish(): Promise<{ bytes: number; sha256: string }>;
}

/** Open `file` for streaming, decompressing it when `compression` says so (gzip or zstd). */
export function openSource(file: string, compression: Compression | null | undefined, onBytes: (n: number) => void): ByteSource {
  const tap = new ByteTap(onBytes);
  let stopped = false;
  async function* raw(): AsyncGenerator<Buffer> {
    for await (const c of createReadStream(file, { highWaterMark: CHUNK_BYTES })) {
      if (stopped) return;
      tap.push(c as Buffer);
      yield c as Buffer;
    }
  }
  const src: ByteSource = {
    failure: null,
    chunks: compression ? DECODERS[compression](raw(), onFailure) : raw(),
    async finish() {
      stopped = true;
      for await (const c of createReadStream(file, { start: tap.bytes, highWaterMark: CHUNK_BYTES })) tap.push(c as Buffer);
      return { bytes: tap.bytes, sha256: tap.digest() };
    },
  };
  function onFailure(why: string) {
    src.failure = why;
  }
  return src;
}

async function* gunzip(raw: AsyncGenerator<Buffer>, fail: (why: string) => void): AsyncGenerator<Buffer> {
  // Concatenated gzip members (as `cat a.gz b.gz` makes) decompress as one stream.
  const z = createGunzip({ chunkSize: 256 * 1024 });
  pipeline(Readable.from(raw), z, () => undefined);
  try {
    for await (const c of z) yield c as Buffer;
  } catch (e) {
    fail(zlibReason(e as NodeJS.ErrnoException));
  } finally {
    // A reader that stops early: close the file behind the pipeline.
    z.destroy();
  }
}

async function* unzstd(raw: AsyncGenerator<Buffer>, fail: (why: string) => void): AsyncGenerator<Buffer> {
  const out: Uint8Array[] = [];
  const d = new Decompress((chunk) => {
    if (chunk.length) out.push(chunk);
  });
  const drain = function* () {
    for (const o of out.splice(0)) yield Buffer.from(o.buffer, o.byteOffset, o.length);
  };
  try {
    let any = false;
    for await (const c of raw) {
      any = true;
      d.push(c);
      yield* drain();
    }
    if (any) d.push(new Uint8Array(0), true);
    yield* drain();
  } catch (e) {
    yield* drain();
    const code = (e as { code?: number }).code;
    fail(code === 5 ? "the zstd data ends too soon (the file is cut short)" : `the zstd data is damaged (${(e as Error).message})`);
  }
}

/** bzip2 through unbzip2-stream, an old-style (through) stream: its errors are forwarded by hand. */
async function* bunzip2(raw: AsyncGenerator<Buffer>, fail: (why: string) => void): AsyncGenerator<Buffer> {
  const out = new PassThrough();
  const decoder = unbzip2();
  decoder.on("error", (e: Error) => out.destroy(e));
  const input = Readable.from(raw);
  input.on("error", (e) => out.destroy(e));
  input.pipe(decoder).pipe(out);
  try {
    for await (const c of out) yield c as Buffer;
  } catch (e) {
    // The decoder reads past the end of a cut stream and throws a TypeError rather than naming it.
    fail(/stream|EOF|end/i.test((e as Error).message) || e instanceof TypeError ? "the bzip2 data ends too soon or is damaged (the file is cut short?)" : `the bzip2 data is damaged (${(e as Error).message})`);
  } finally {
    input.destroy();
  }
}

/** xz through xz-decompress's web stream (WebAssembly). */
async function* unxz(raw: AsyncGenerator<Buffer>, fail: (why: string) => void): AsyncGenerator<Buffer> {
  const input = Readable.from(raw);
  const out = Readable.fromWeb(new XzReadableStream(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>) as unknown as import("node:stream/web").ReadableStream);
  try {
    for await (const c of out) yield Buffer.from(c as Uint8Array);
  } catch (e) {
    fail(/error code (8|9)\b/.test((e as Error).message) ? "the xz data ends too soon or is damaged (the file is cut short?)" : `the xz data is damaged (${(e as Error).message})`);
  } finally {
    input.destroy();
  }
}

// A CommonJS package: Node's own ESM loader (the Electron main bundle) sees only its default export.
const XzReadableStream: typeof xzModule.XzReadableStream = xzModule.XzReadableStream ?? (xzModule as unknown as { default: typeof xzModule }).default.XzReadableStream;

const DECODERS: Record<Compression, (raw: AsyncGenerator<Buffer>, fail: (why: string) => void) => AsyncGenerator<Buffer>> = { gzip: gunzip, zstd: unzstd, bzip2: bunzip2, xz: unxz };

function zlibReason(e: NodeJS.ErrnoException): string {
  if (e.code === "Z_BUF_ERROR" || /unexpected end/i.test(e.message)) return "the gzip data ends too soon (the file is cut short)";
  return `the gzip data is damaged (${e.message})`;
}

/** The file-level error for compressed data that stops decoding after `lines` complete lines. */
export function decompressIssue(file: string, failure: string, lines: number): DataIssue {
  const after = lines > 0 ? `; the rows before line ${lines + 1} were read` : "";
  return makeIssue("DATA_DECOMPRESS", { file, ...(lines > 0 ? { line: lines + 1 } : {}) }, `${failure}${after}`);
}
