/**
 * Parquet through hyparquet (pure JavaScript; snappy built in, gzip/brotli/zstd/lz4 from
 * hyparquet-compressors), one row group at a time, so memory follows the row-group size, not the
 * file size. Lists and structs arrive as arrays and objects (a `messages` column of
 * list<struct<role, content>> is a list of messages); 64-bit integers arrive as BigInt. Rows are
 * located by their 1-based row number. The sha256 is taken in a separate sequential pass, because
 * the reader itself jumps around the file.
 */
import { createReadStream } from "node:fs";
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, type FileMetaData } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { makeIssue } from "../issues";
import type { RawRecord } from "../types";
import { ByteTap } from "./bytes";
import type { ReaderContext, RecordStream } from "./reader";

export async function* readParquet(ctx: ReaderContext): RecordStream {
  const { file } = ctx;
  const hashing = hashFile(file);
  const buffer = await asyncBufferFromFile(file);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    ctx.report(makeIssue("DATA_PARQUET_READ", { file }, `not a readable Parquet file: ${(e as Error).message}`));
    Object.assign(ctx.result, await hashing);
    ctx.onBytes(ctx.result.bytes);
    return;
  }
  let rowStart = 0;
  let done = 0;
  for (const [g, group] of metadata.row_groups.entries()) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[] = [];
    try {
      await parquetRead({ file: buffer, metadata, rowStart, rowEnd, rowFormat: "object", compressors, onComplete: (r) => (rows = r) });
    } catch (e) {
      ctx.report(makeIssue("DATA_PARQUET_READ", { file, row: rowStart + 1 }, `row group ${g + 1} (rows ${rowStart + 1}–${rowEnd}) cannot be read: ${(e as Error).message}`));
      break;
    }
    const batch: RawRecord[] = rows.map((value, i) => ({ file, row: rowStart + i + 1, value }));
    const bytes = Number(group.total_compressed_size ?? group.total_byte_size ?? 0);
    done += bytes;
    ctx.onBytes(bytes);
    rowStart = rowEnd;
    yield batch;
  }
  if (Number(metadata.num_rows) === 0) ctx.report(makeIssue("DATA_EMPTY_FILE", { file }, "the file has no rows"));
  Object.assign(ctx.result, await hashing);
  if (ctx.result.bytes > done) ctx.onBytes(ctx.result.bytes - done);
}

async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const tap = new ByteTap();
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) tap.push(chunk as Buffer);
  return { bytes: tap.bytes, sha256: tap.digest() };
}
