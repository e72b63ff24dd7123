/**
 * CSV and TSV through csv-parse, streamed. The raw bytes pass a checking stage first (sha256,
 * progress, byte-order mark, UTF-8 with the line and byte offset of each bad line), then the
 * parser. The first record is the header; every other record becomes an object keyed by it, with
 * its start line (a quoted field may span lines). Records the parser cannot read (a stray quote)
 * are skipped by the parser and reported here as invalid rows, so one bad quote does not hide the
 * rest of the file. Quotes inside unquoted fields are accepted as text, as pandas does.
 */
import { Readable } from "node:stream";
import { parse, type CsvError } from "csv-parse";
import { makeIssue } from "../issues";
import type { RawRecord } from "../types";
import { detectBom, firstInvalidUtf8, isUtf8 } from "./bytes";
import { decompressIssue, openSource } from "./compression";
import { DEFAULT_MAX_RECORD_BYTES, type ReaderContext, type RecordStream } from "./reader";

const MAX_BAD_LINES = 10_000;
const CSV_ERRORS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: "a quoted field is never closed",
  CSV_INVALID_CLOSING_QUOTE: "text right after a closing quote (a quote inside a quoted field must be doubled)",
  INVALID_OPENING_QUOTE: "a quote in the middle of an unquoted field",
};

export async function* readCsv(ctx: ReaderContext, delimiter: "," | "\t"): RecordStream {
  const { file } = ctx;
  const src = openSource(file, ctx.compression, ctx.onBytes);
  let textBytes = 0;
  let linesRead = 0;
  const badLines = new Map<number, number>(); // line → byte offset of its first bad byte
  let empty = true;
  let refused = false;

  async function* checked(): AsyncGenerator<Buffer> {
    let line = 1;
    let offset = 0;
    let pending: Buffer | null = null; // bytes of an incomplete last line, checked with the next chunk
    // Bytes after the last line break, held from the parser until the next chunk: data that stops
    // decompressing mid-line must not reach it as a short last row.
    let held: Buffer[] = [];
    let first = true;
    for await (const raw of src.chunks) {
      let chunk = raw;
      textBytes += chunk.length;
      if (first) {
        first = false;
        const bom = detectBom(chunk);
        if (bom === "utf8") {
          ctx.report(makeIssue("DATA_BOM", { file, line: 1 }, "the file starts with a UTF-8 byte-order mark; it was ignored"));
          chunk = chunk.subarray(3);
          offset = 3;
        } else if (bom) {
          ctx.report(makeIssue("DATA_NOT_UTF8", { file, line: 1, byte: 0 }, "the file is UTF-16 text, not UTF-8", { hint: 'Save the file as UTF-8 (Excel: "CSV UTF-8").' }));
          refused = true;
          return;
        }
      }
      if (empty && chunk.some((b) => b !== 32 && b !== 10 && b !== 13 && b !== 9)) empty = false;
      // Check whole lines only, so a multi-byte character split across chunks is not flagged.
      const lastNl = chunk.lastIndexOf(10);
      const body = pending ? Buffer.concat([pending, chunk.subarray(0, lastNl + 1)]) : chunk.subarray(0, lastNl + 1);
      const bodyStart = offset - (pending?.length ?? 0);
      if (lastNl >= 0) {
        line = checkLines(body, bodyStart, line);
        pending = chunk.subarray(lastNl + 1);
      } else pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      if (pending.length > (ctx.opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES)) pending = null;
      offset += chunk.length;
      linesRead = line - 1;
      if (lastNl < 0) held.push(chunk);
      else {
        yield held.length ? Buffer.concat([...held, chunk.subarray(0, lastNl + 1)]) : chunk.subarray(0, lastNl + 1);
        held = [chunk.subarray(lastNl + 1)];
      }
    }
    if (pending?.length) checkLines(pending, offset - pending.length, line);
    if (src.failure) ctx.report(decompressIssue(file, src.failure, linesRead));
    else if (held.length) yield Buffer.concat(held);
  }

  /** Record the lines of `buf` (starting at file offset `start`, line `line`) that are not UTF-8. */
  function checkLines(buf: Buffer, start: number, line: number): number {
    let pos = 0;
    const badAll = !isUtf8(buf);
    for (;;) {
      const nl = buf.indexOf(10, pos);
      const end = nl < 0 ? buf.length : nl;
      if (badAll && badLines.size < MAX_BAD_LINES) {
        const at = firstInvalidUtf8(buf.subarray(pos, end));
        if (at >= 0) badLines.set(line, start + pos + at);
      }
      if (nl < 0) return line;
      line++;
      pos = nl + 1;
    }
  }

  const parser = parse({ delimiter, relax_column_count: true, relax_quotes: true, info: true, raw: true, skip_empty_lines: true, skip_records_with_error: true });
  const skipped: CsvError[] = [];
  parser.on("skip", (e: CsvError) => skipped.push(e));
  Readable.from(checked()).pipe(parser);

  let header: string[] | null = null;
  let rows = 0;
  let lastEnd = 0;
  let batch: RawRecord[] = [];
  const flushSkipped = () => {
    for (const e of skipped.splice(0)) {
      const line = Math.min(lastEnd + 1, (e as { lines?: number }).lines ?? lastEnd + 1);
      lastEnd = Math.max(lastEnd, line);
      rows++;
      const why = CSV_ERRORS[e.code] ?? e.message.split(":")[0]!.toLowerCase();
      batch.push({ file, line, row: rows, issue: makeIssue("DATA_CSV_SYNTAX", { file, line }, `${why} (${e.code})`) });
    }
  };
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number }; raw: string }>) {
    flushSkipped();
    const { record, info, raw } = item;
    let inner = 0;
    for (let i = raw.indexOf("\n"); i >= 0; i = raw.indexOf("\n", i + 1)) inner++;
    if (raw.endsWith("\n")) inner--;
    const line = Math.max(1, info.lines - Math.max(inner, 0));
    lastEnd = info.lines;
    if (header === null) {
      header = record.map((h) => h.trim());
      const dup = header.find((h, i) => header!.indexOf(h) !== i);
      if (dup !== undefined) {
        ctx.report(makeIssue("DATA_CSV_COLUMNS", { file, line, field: dup }, `the header names column '${dup}' twice`, { hint: "Give every column a distinct name." }));
        header = header.map((h, i) => (header!.indexOf(h) === i ? h : `${h}_${i + 1}`));
      }
      continue;
    }
    rows++;
    const bad = firstBadLine(badLines, line, info.lines);
    if (bad) {
      batch.push({ file, line, row: rows, issue: makeIssue("DATA_NOT_UTF8", { file, line: bad[0], byte: bad[1] }, `bytes that are not UTF-8 (byte offset ${bad[1]})`) });
    } else if (record.length !== header.length) {
      batch.push({
        file,
        line,
        row: rows,
        issue: makeIssue("DATA_CSV_COLUMNS", { file, line }, `${record.length} field${record.length === 1 ? "" : "s"}; the header has ${header.length} (${header.join(", ")})`),
      });
    } else {
      const value: Record<string, unknown> = {};
      for (let i = 0; i < header.length; i++) value[header[i]!] = record[i];
      batch.push({ file, line, row: rows, value });
    }
    if (batch.length >= 256) {
      yield batch;
      batch = [];
    }
  }
  flushSkipped();
  if (batch.length) yield batch;
  if (refused) {
    /* reported above */
  } else if (src.failure) {
    /* reported in checked() */
  } else if (empty || (rows === 0 && header === null)) ctx.report(makeIssue("DATA_EMPTY_FILE", { file }, textBytes === 0 ? (ctx.compression ? "the file holds no data once decompressed" : "the file is empty (0 bytes)") : "the file has no records"));
  else if (rows === 0) ctx.report(makeIssue("DATA_EMPTY_FILE", { file, line: 1 }, `the file has a header (${header!.join(", ")}) but no rows`));
  Object.assign(ctx.result, await src.finish());
}

function firstBadLine(bad: Map<number, number>, from: number, to: number): [number, number] | null {
  if (bad.size === 0) return null;
  for (let l = from; l <= to; l++) {
    const b = bad.get(l);
    if (b !== undefined) return [l, b];
  }
  return null;
}
