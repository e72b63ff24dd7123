/**
 * JSON Lines, streamed with constant memory: the file is read in 1 MiB chunks, split on newline
 * bytes, and each line checked for UTF-8 (reporting the byte offset of the first bad byte) before
 * it is decoded and parsed. A byte-order mark is stripped with a warning; a UTF-16 file is refused
 * at once (every line would be garbage). One bad line never stops the read: it becomes an invalid
 * record, so the report lists every bad line and `--skip-invalid` can drop them.
 */
import { makeIssue } from "../issues";
import type { RawRecord } from "../types";
import { detectBom, firstInvalidUtf8, isUtf8 } from "./bytes";
import { decompressIssue, openSource } from "./compression";
import { locateJsonError } from "./json-syntax";
import { DEFAULT_MAX_RECORD_BYTES, type ReaderContext, type RecordStream } from "./reader";

export async function* readJsonl(ctx: ReaderContext): RecordStream {
  const { file } = ctx;
  const max = ctx.opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const src = openSource(file, ctx.compression, ctx.onBytes);
  let textBytes = 0;
  let lineNo = 0;
  let rows = 0;
  let chunkStart = 0; // file offset of the current chunk
  let carry: Buffer[] = [];
  let carryLen = 0;
  let lineStart = 0; // file offset of the line being assembled
  let tooLong = false;
  let first = true;

  const onLine = (bytes: Buffer, offset: number, batch: RawRecord[]) => {
    lineNo++;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 13) end--;
    if (tooLong) {
      tooLong = false;
      rows++;
      batch.push({ file, line: lineNo, row: rows, issue: makeIssue("DATA_LINE_TOO_LARGE", { file, line: lineNo }, `the line is longer than ${max} bytes; it was not read`) });
      return;
    }
    let start = 0;
    while (start < end && (bytes[start] === 32 || bytes[start] === 9)) start++;
    if (start === end) return; // blank line
    const line = end === bytes.length ? bytes : bytes.subarray(0, end);
    rows++;
    if (!isUtf8(line)) {
      const at = firstInvalidUtf8(line);
      batch.push({
        file,
        line: lineNo,
        row: rows,
        issue: makeIssue("DATA_NOT_UTF8", { file, line: lineNo, byte: offset + at, column: at + 1 }, `bytes that are not UTF-8 (byte offset ${offset + at}: 0x${line[at]!.toString(16).padStart(2, "0")})`),
      });
      return;
    }
    const text = line.toString("utf8");
    try {
      batch.push({ file, line: lineNo, row: rows, value: JSON.parse(text) });
    } catch (e) {
      const where = locateJsonError(text);
      const column = where ? where.index + 1 : undefined;
      const why = where?.message ?? (e as Error).message;
      batch.push({ file, line: lineNo, row: rows, issue: makeIssue("DATA_JSON_SYNTAX", { file, line: lineNo, column }, `not valid JSON: ${why}`) });
    }
  };

  for await (const raw of src.chunks) {
    let chunk = raw;
    textBytes += chunk.length;
    let pos = 0;
    if (first) {
      first = false;
      const bom = detectBom(chunk);
      if (bom === "utf8") {
        ctx.report(makeIssue("DATA_BOM", { file, line: 1 }, "the file starts with a UTF-8 byte-order mark; it was ignored"));
        pos = 3;
        lineStart = 3;
      } else if (bom) {
        ctx.report(makeIssue("DATA_NOT_UTF8", { file, line: 1, byte: 0 }, `the file is ${bom === "utf16le" ? "UTF-16 LE" : "UTF-16 BE"} text, not UTF-8`, { hint: "Save the file as UTF-8 (a UTF-16 file cannot be read line by line as UTF-8)." }));
        Object.assign(ctx.result, await src.finish());
        return;
      }
    }
    const batch: RawRecord[] = [];
    for (;;) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        const rest = chunk.length - pos;
        if (!tooLong && carryLen + rest > max) {
          tooLong = true;
          carry = [];
          carryLen = 0;
        }
        if (!tooLong && rest > 0) {
          if (carryLen === 0) lineStart = chunkStart + pos;
          carry.push(chunk.subarray(pos));
          carryLen += rest;
        }
        break;
      }
      let line: Buffer;
      let offset: number;
      if (carryLen > 0) {
        if (carryLen + (nl - pos) > max) tooLong = true;
        line = tooLong ? Buffer.alloc(0) : Buffer.concat([...carry, chunk.subarray(pos, nl)]);
        offset = lineStart;
        carry = [];
        carryLen = 0;
      } else {
        offset = chunkStart + pos;
        if (nl - pos > max) tooLong = true;
        line = chunk.subarray(pos, nl);
      }
      onLine(line, offset, batch);
      pos = nl + 1;
    }
    chunkStart += chunk.length;
    chunk = undefined as unknown as Buffer;
    if (batch.length) yield batch;
  }
  const last: RawRecord[] = [];
  // After damaged compressed data the last line is cut off wherever decompression stopped: not a record.
  if (src.failure) ctx.report(decompressIssue(file, src.failure, lineNo));
  else if (carryLen > 0 || tooLong) onLine(carryLen > 0 ? Buffer.concat(carry) : Buffer.alloc(0), lineStart, last);
  if (last.length) yield last;
  if (rows === 0 && !src.failure) ctx.report(makeIssue("DATA_EMPTY_FILE", { file }, textBytes === 0 ? (ctx.compression ? "the file holds no data once decompressed" : "the file is empty (0 bytes)") : "the file has no records (only blank lines)"));
  Object.assign(ctx.result, await src.finish());
}
