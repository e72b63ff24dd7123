/**
 * A .json file: an array of records, or an object whose values are arrays, either of records
 * ({"train": [{...}, ...]}) or of column values of equal length ({"prompt": [...], "completion":
 * [...]}, pandas' to_dict("list")). Records are streamed: a byte scanner finds each element's
 * extent (strings, escapes and bracket nesting) and its start line, and each element is parsed on
 * its own, so a bad comma inside one record is reported at its line and column and skippable like
 * a bad JSONL line. A structural error between records (a missing comma, unbalanced brackets)
 * ends the file: beyond it, record boundaries cannot be trusted. Columns, by their nature, are
 * held in memory until the whole file is read.
 */
import { makeIssue } from "../issues";
import type { DataIssue, RawRecord } from "../types";
import { detectBom, firstInvalidUtf8, isUtf8 } from "./bytes";
import { decompressIssue, openSource } from "./compression";
import { lineColumn, locateJsonError } from "./json-syntax";
import { DEFAULT_MAX_RECORD_BYTES, type ReaderContext, type RecordStream } from "./reader";

const enum S {
  Start,
  KeyOrEnd,
  Key,
  Colon,
  ObjValue,
  ArrBefore,
  Elem,
  ObjAfter,
  Done,
}

interface Column {
  values: unknown[];
  lines: number[];
  issues: (DataIssue | undefined)[];
}

export async function* readJson(ctx: ReaderContext): RecordStream {
  const { file } = ctx;
  const max = ctx.opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const src = openSource(file, ctx.compression, ctx.onBytes);
  let textBytes = 0;
  let state = S.Start;
  let top: "array" | "object" | null = null;
  let line = 1;
  let col = 1;
  let offset = 0; // file offset of the current chunk
  let fatal: DataIssue | null = null;
  let rows = 0;
  let anyContent = false;
  // Current key (object form) and how its array is used.
  let keyBytes: number[] = [];
  let keyEsc = false;
  let key = "";
  const modes = new Map<string, "records" | "columns">();
  const columns = new Map<string, Column>();
  let sawComma = false;
  // Current element.
  let pieces: Buffer[] = [];
  let elLen = 0;
  let elTooLong = false;
  let elLine = 0;
  let elCol = 0;
  let elOffset = 0;
  let stack: number[] = [];
  let inStr = false;
  let esc = false;

  const fail = (code: "DATA_JSON_SYNTAX" | "DATA_JSON_SHAPE", message: string) => {
    fatal = makeIssue(code, { file, line, column: col }, message);
  };

  // A record is cited by its element number when it starts on the line another starts on (a
  // one-line array): "line 1" would name every record alike. So each record is held until the
  // next one starts.
  let held: RawRecord | null = null;
  let sharesPrev = false;
  const release = (batch: RawRecord[]) => {
    if (held) batch.push(held);
    held = null;
  };
  const startElement = (batch: RawRecord[], at: number) => {
    sharesPrev = held !== null && held.line === at;
    if (sharesPrev) held!.element = held!.row;
    release(batch);
  };

  const finishElement = (batch: RawRecord[]) => {
    const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    pieces = [];
    const startLine = elLine;
    const at = { file, line: startLine };
    if (elTooLong) {
      elTooLong = false;
      rows++;
      return hold({ ...at, row: rows, issue: makeIssue("DATA_LINE_TOO_LARGE", at, `the record is larger than ${max} bytes; it was not read`) });
    }
    let value: unknown;
    let issue: DataIssue | undefined;
    if (!isUtf8(bytes)) {
      const bad = firstInvalidUtf8(bytes);
      const pos = lineColumn(bytes.subarray(0, bad).toString("latin1"), bad, startLine, elCol);
      issue = makeIssue("DATA_NOT_UTF8", { file, line: pos.line, byte: elOffset + bad }, `bytes that are not UTF-8 (byte offset ${elOffset + bad})`);
    } else {
      const text = bytes.toString("utf8");
      try {
        value = JSON.parse(text);
      } catch (e) {
        const where = locateJsonError(text);
        const pos = where ? lineColumn(text, where.index, startLine, elCol) : { line: startLine, column: elCol };
        issue = makeIssue("DATA_JSON_SYNTAX", { file, line: pos.line, column: pos.column }, `not valid JSON: ${where?.message ?? (e as Error).message}`);
      }
    }
    const k = top === "object" ? key : "";
    let mode = modes.get(k);
    if (mode === undefined && !issue) {
      mode = top === "object" && (value === null || typeof value !== "object" || Array.isArray(value)) ? "columns" : "records";
      modes.set(k, mode);
      if (new Set(modes.values()).size > 1) {
        fail("DATA_JSON_SHAPE", `'${k}' holds ${mode === "columns" ? "column values" : "records"} but an earlier key holds ${mode === "columns" ? "records" : "column values"}`);
      }
    }
    if (mode === "columns") {
      let c = columns.get(k);
      if (!c) columns.set(k, (c = { values: [], lines: [], issues: [] }));
      c.values.push(value);
      c.lines.push(startLine);
      c.issues.push(issue);
      return;
    }
    rows++;
    hold(issue ? { ...at, row: rows, issue } : { ...at, row: rows, value });
  };
  const hold = (rec: RawRecord) => {
    if (sharesPrev) rec.element = rec.row;
    held = rec;
  };

  let first = true;
  for await (const chunk of src.chunks) {
    textBytes += chunk.length;
    if (fatal) break; // the rest is hashed by src.finish()
    let i = 0;
    if (first) {
      first = false;
      const bom = detectBom(chunk);
      if (bom === "utf8") {
        ctx.report(makeIssue("DATA_BOM", { file, line: 1 }, "the file starts with a UTF-8 byte-order mark; it was ignored"));
        i = 3;
      } else if (bom) {
        fatal = makeIssue("DATA_NOT_UTF8", { file, line: 1, byte: 0 }, "the file is UTF-16 text, not UTF-8", { hint: "Save the file as UTF-8." });
        continue;
      }
    }
    const batch: RawRecord[] = [];
    let elStart = state === S.Elem ? 0 : -1;
    const n = chunk.length;
    for (; i < n && !fatal; i++) {
      const b = chunk[i]!;
      if (state === S.Elem) {
        if (inStr) {
          if (esc) esc = false;
          else if (b === 92) esc = true;
          else if (b === 34) inStr = false;
        } else if (b === 34) inStr = true;
        else if (b === 123 || b === 91) stack.push(b);
        else if (b === 125 || b === 93) {
          if (stack.length === 0) {
            if (b === 125) {
              fail("DATA_JSON_SYNTAX", "'}' closes nothing");
              break;
            }
            addPiece(chunk, elStart, i);
            finishElement(batch);
            release(batch);
            state = top === "array" ? S.Done : S.ObjAfter;
            elStart = -1;
          } else if (stack.pop() !== b - 2) {
            fail("DATA_JSON_SYNTAX", `'${String.fromCharCode(b)}' does not match the open '${String.fromCharCode(b === 125 ? 91 : 123)}'`);
            break;
          }
        } else if (b === 44 && stack.length === 0) {
          addPiece(chunk, elStart, i);
          finishElement(batch);
          state = S.ArrBefore;
          sawComma = true;
          elStart = -1;
        }
      } else if (state === S.Key) {
        if (keyEsc) keyEsc = false;
        else if (b === 92) keyEsc = true;
        else if (b === 34) {
          key = decodeKey(keyBytes);
          state = S.Colon;
        }
        if (state === S.Key) keyBytes.push(b);
      } else if (b === 32 || b === 9 || b === 13 || b === 10) {
        // whitespace between tokens
      } else {
        anyContent = true;
        switch (state) {
          case S.Start:
            if (b === 91) [top, state, sawComma] = ["array", S.ArrBefore, false];
            else if (b === 123) [top, state] = ["object", S.KeyOrEnd];
            else fail("DATA_JSON_SHAPE", `the file starts with '${String.fromCharCode(b)}'; a .json dataset is an array [...] or an object of arrays {"name": [...]}`);
            break;
          case S.KeyOrEnd:
            if (b === 34) [state, keyBytes, keyEsc] = [S.Key, [], false];
            else if (b === 125 && !sawComma) state = S.Done;
            else fail("DATA_JSON_SYNTAX", `expected a double-quoted key, found '${String.fromCharCode(b)}'`);
            break;
          case S.Colon:
            if (b === 58) state = S.ObjValue;
            else fail("DATA_JSON_SYNTAX", `expected ':' after the key "${key}"`);
            break;
          case S.ObjValue:
            if (b === 91) [state, sawComma] = [S.ArrBefore, false];
            else fail("DATA_JSON_SHAPE", `the value of "${key}" is not an array; every value of the top-level object must be an array`);
            break;
          case S.ArrBefore:
            if (b === 93) {
              if (sawComma) fail("DATA_JSON_SYNTAX", "a trailing comma before ']'");
              else state = top === "array" ? S.Done : S.ObjAfter;
            } else if (b === 44) fail("DATA_JSON_SYNTAX", "an empty element (two commas in a row)");
            else {
              state = S.Elem;
              [stack, inStr, esc, elLen, elTooLong] = [[], false, false, 0, false];
              [elLine, elCol, elOffset, elStart] = [line, col, offset + i, i];
              startElement(batch, line);
              i--; // rescan this byte as part of the element
              col--;
            }
            break;
          case S.ObjAfter:
            if (b === 44) [state, sawComma] = [S.KeyOrEnd, true];
            else if (b === 125) state = S.Done;
            else fail("DATA_JSON_SYNTAX", `expected ',' or '}' after the array of "${key}"`);
            break;
          case S.Done:
            fail("DATA_JSON_SYNTAX", `unexpected '${String.fromCharCode(b)}' after the end of the top-level ${top === "array" ? "array" : "object"}`);
            break;
        }
      }
      if (b === 10) {
        line++;
        col = 1;
      } else col++;
    }
    if (state === S.Elem && elStart >= 0 && !fatal) addPiece(chunk, elStart, n);
    offset += n;
    if (batch.length) yield batch;
  }
  function addPiece(chunk: Buffer, from: number, to: number) {
    if (elTooLong || to <= from) return;
    elLen += to - from;
    if (elLen > max) {
      elTooLong = true;
      pieces = [];
      return;
    }
    pieces.push(Buffer.from(chunk.subarray(from, to)));
  }

  if (held) yield [held];
  if (src.failure) fatal = decompressIssue(file, src.failure, line - 1);
  if (!fatal && anyContent && state !== S.Done) {
    fail("DATA_JSON_SYNTAX", state === S.Elem && inStr ? "the file ends inside a string" : "the file ends before the top-level value is closed");
  }
  if (fatal) ctx.report(fatal);
  else if (!anyContent) ctx.report(makeIssue("DATA_EMPTY_FILE", { file }, textBytes === 0 ? (ctx.compression ? "the file holds no data once decompressed" : "the file is empty (0 bytes)") : "the file has no records"));
  else if (columns.size > 0) yield* columnRows(file, columns, ctx);
  else if (rows === 0) ctx.report(makeIssue("DATA_EMPTY_FILE", { file, line: 1 }, "the file holds no records (an empty array)"));
  Object.assign(ctx.result, await src.finish());
}

function decodeKey(bytes: number[]): string {
  try {
    return JSON.parse(`"${Buffer.from(bytes).toString("utf8")}"`) as string;
  } catch {
    return Buffer.from(bytes).toString("utf8");
  }
}

async function* columnRows(file: string, columns: Map<string, Column>, ctx: ReaderContext): RecordStream {
  const names = [...columns.keys()];
  const lengths = names.map((k) => columns.get(k)!.values.length);
  if (new Set(lengths).size > 1) {
    ctx.report(makeIssue("DATA_JSON_SHAPE", { file, line: columns.get(names[0]!)!.lines[0] }, `the columns have different lengths: ${names.map((k, i) => `${k} ${lengths[i]}`).join(", ")}`));
    return;
  }
  const batch: RawRecord[] = [];
  const lines = columns.get(names[0]!)!.lines;
  for (let r = 0; r < lengths[0]!; r++) {
    const line = lines[r]!;
    // Values on one line (a one-line file) are cited by their position, as elements are.
    const element = lines[r - 1] === line || lines[r + 1] === line ? { element: r + 1 } : {};
    const issue = names.map((k) => columns.get(k)!.issues[r]).find((x) => x !== undefined);
    if (issue) batch.push({ file, line, row: r + 1, ...element, issue });
    else batch.push({ file, line, row: r + 1, ...element, value: Object.fromEntries(names.map((k) => [k, columns.get(k)!.values[r]])) });
  }
  yield batch;
}
