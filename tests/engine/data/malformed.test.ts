/**
 * The malformed corpus (tests/fixtures/datasets/malformed/): every file is one mistake seen in real
 * datasets, and each must be reported with its exact code and place. Errors are asserted as the
 * first error of the file; warnings as present, with no error beside them.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { scanDataset, type ScanOptions } from "../../../engine/data/scan";
import { loadChatTokenizer, type ChatTokenizer } from "../../../engine/data/tokenizer";
import type { DataIssue } from "../../../engine/data/types";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel } from "../../helpers/fixture";

const DIR = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "malformed");

interface Case {
  file: string;
  code: string;
  severity?: "error" | "warning";
  /** Expected place: line (text formats) or row (Parquet), plus column, byte or field when they matter. */
  at: Partial<Pick<DataIssue, "line" | "row" | "column" | "byte" | "field">>;
  opts?: Omit<ScanOptions, "tokenizer"> & { tokenizer?: true };
}

const CASES: Case[] = [
  { file: "bad-comma.jsonl", code: "DATA_JSON_SYNTAX", at: { line: 3, column: 92 } },
  { file: "missing-brace.jsonl", code: "DATA_JSON_SYNTAX", at: { line: 2, column: 92 } },
  { file: "single-quotes.jsonl", code: "DATA_JSON_SYNTAX", at: { line: 1, column: 2 } },
  { file: "unescaped-newline.jsonl", code: "DATA_JSON_SYNTAX", at: { line: 2, column: 47 } },
  { file: "bom.jsonl", code: "DATA_BOM", severity: "warning", at: { line: 1 } },
  { file: "latin1.jsonl", code: "DATA_NOT_UTF8", at: { line: 2, byte: 157 } },
  { file: "utf16.jsonl", code: "DATA_NOT_UTF8", at: { line: 1, byte: 0 } },
  { file: "empty.jsonl", code: "DATA_EMPTY_FILE", at: {} },
  { file: "blank-lines.jsonl", code: "DATA_EMPTY_FILE", at: {} },
  { file: "line-too-large.jsonl", code: "DATA_LINE_TOO_LARGE", at: { line: 2 }, opts: { maxRecordBytes: 1000 } },
  { file: "not-object.jsonl", code: "DATA_NOT_OBJECT", at: { line: 2 } },
  { file: "unknown-schema.jsonl", code: "DATA_UNKNOWN_SCHEMA", at: { line: 1 } },
  { file: "alpaca-missing-output.jsonl", code: "DATA_MISSING_FIELD", at: { line: 1, field: "output" } },
  { file: "role-missing.jsonl", code: "DATA_MISSING_FIELD", at: { line: 1, field: "messages[0].role" } },
  { file: "messages-not-list.jsonl", code: "DATA_FIELD_TYPE", at: { line: 1, field: "messages" } },
  { file: "mixed-schema.jsonl", code: "DATA_MIXED_SCHEMA", at: { line: 4 } },
  { file: "unknown-role.jsonl", code: "DATA_UNKNOWN_ROLE", at: { line: 2, field: "messages[0].role" } },
  { file: "sharegpt-unknown-role.jsonl", code: "DATA_UNKNOWN_ROLE", at: { line: 3, field: "conversations[1].from" } },
  { file: "empty-conversation.jsonl", code: "DATA_EMPTY_CONVERSATION", at: { line: 2, field: "messages" } },
  { file: "no-assistant.jsonl", code: "DATA_NO_ASSISTANT", at: { line: 1 } },
  { file: "empty-assistant.jsonl", code: "DATA_EMPTY_ASSISTANT", at: { line: 2, field: "messages[1].content" } },
  { file: "ends-with-user.jsonl", code: "DATA_NOT_ENDING_WITH_ASSISTANT", severity: "warning", at: { line: 2, field: "messages[2].role" } },
  { file: "consecutive-user.jsonl", code: "DATA_CONSECUTIVE_ROLES", at: { line: 2, field: "messages[1].role" } },
  { file: "content-number.jsonl", code: "DATA_CONTENT_NOT_STRING", at: { line: 1, field: "messages[0].content" } },
  { file: "content-null.jsonl", code: "DATA_CONTENT_NOT_STRING", at: { line: 3, field: "messages[1].content" } },
  { file: "field-too-large.jsonl", code: "DATA_FIELD_TOO_LARGE", at: { line: 2, field: "messages[0].content" }, opts: { maxFieldChars: 1000 } },
  { file: "text-empty.jsonl", code: "DATA_EMPTY_FIELD", at: { line: 2, field: "text" } },
  { file: "duplicate.jsonl", code: "DATA_DUPLICATE", severity: "warning", at: { line: 3 } },
  { file: "near-duplicate.jsonl", code: "DATA_NEAR_DUPLICATE", severity: "warning", at: { line: 2 } },
  { file: "pair-identical.jsonl", code: "DATA_PAIR_IDENTICAL", at: { line: 2, field: "chosen" } },
  { file: "too-long.jsonl", code: "DATA_TOO_LONG", at: { line: 2 }, opts: { tokenizer: true, maxLength: 32, overlong: "error" } },
  { file: "no-trained-tokens.jsonl", code: "DATA_NO_TRAINED_TOKENS", severity: "warning", at: { line: 1 }, opts: { tokenizer: true, maxLength: 24, overlong: "truncate" } },
  { file: "json-trailing-comma.json", code: "DATA_JSON_SYNTAX", at: { line: 3, column: 1 } },
  { file: "json-bad-element.json", code: "DATA_JSON_SYNTAX", at: { line: 5, column: 23 } },
  { file: "json-missing-comma.json", code: "DATA_JSON_SYNTAX", at: { line: 3, column: 3 } },
  { file: "json-unclosed.json", code: "DATA_JSON_SYNTAX", at: { line: 3 } },
  { file: "json-not-array.json", code: "DATA_JSON_SHAPE", at: { line: 1, column: 1 } },
  { file: "json-value-not-array.json", code: "DATA_JSON_SHAPE", at: { line: 1, column: 11 } },
  { file: "json-columns-unequal.json", code: "DATA_JSON_SHAPE", at: { line: 2 } },
  { file: "csv-unclosed-quote.csv", code: "DATA_CSV_SYNTAX", at: { line: 3 } },
  { file: "csv-columns.csv", code: "DATA_CSV_COLUMNS", at: { line: 3, row: 2 } },
  { file: "csv-header-only.csv", code: "DATA_EMPTY_FILE", at: { line: 1 } },
  { file: "csv-latin1.csv", code: "DATA_NOT_UTF8", at: { line: 2, byte: 21 } },
  { file: "csv-bad-messages.csv", code: "DATA_FIELD_TYPE", at: { line: 3, row: 2, field: "messages" } },
  { file: "tsv-missing-field.tsv", code: "DATA_MISSING_FIELD", at: { line: 2, field: "output" } },
  { file: "parquet-truncated.parquet", code: "DATA_PARQUET_READ", at: {} },
  { file: "parquet-unknown-role.parquet", code: "DATA_UNKNOWN_ROLE", at: { row: 2, field: "messages[0].role" } },
  { file: "unsupported.txt", code: "DATA_UNSUPPORTED_FORMAT", at: {} },
];

let tokenizer: ChatTokenizer;

beforeAll(async () => {
  tokenizer = await loadChatTokenizer(ensureTinyModel());
});

describe("the malformed dataset corpus", () => {
  it("has a case for every file, and at least 30 files", () => {
    const files = readdirSync(DIR).sort();
    expect(files.length).toBeGreaterThanOrEqual(30);
    expect(CASES.map((c) => c.file).sort()).toEqual(files);
  });

  it.each(CASES)("$file → $code", async ({ file, code, severity = "error", at, opts }) => {
    const { tokenizer: useTokenizer, ...rest } = opts ?? {};
    const scan = await scanDataset(join(DIR, file), { ...rest, ...(useTokenizer ? { tokenizer } : {}) });
    const issues = scan.log.issues();
    const errors = issues.filter((i) => i.severity === "error");
    const found = severity === "error" ? errors[0] : issues.find((i) => i.code === code);
    if (severity === "warning") expect(errors).toEqual([]);
    expect(found).toMatchObject({ code, severity, file: join(DIR, file), ...at });
    expect(found!.message.length).toBeGreaterThan(10);
    expect(found!.hint.length).toBeGreaterThan(10);
    // Row-level errors make their row invalid (skippable); file-level ones block the dataset.
    if (severity === "error") expect(scan.stats.invalid > 0 || scan.blocking.length > 0).toBe(true);
  });
});
