/**
 * One streaming pass over a dataset (a file or a folder of files): read → map columns → detect the
 * schema → normalize and check → find duplicates → (with a tokenizer) template, mask and measure,
 * with counts and the first issues of each kind kept, and each row handed to `onRow`.
 *
 * A file's schema is the one most of its rows follow, and every other row is an error
 * (DATA_MIXED_SCHEMA). To stay single-pass, the first row's schema is assumed and checked at the
 * end of the file; in the rare file whose first rows are the odd ones out, the file is read again
 * with the majority schema (its counts, issues and duplicate keys from the first read are dropped).
 */
import { createHash } from "node:crypto";
import { relative } from "node:path";
import { listDataFiles, readFile, type DataFile } from "./formats/index";
import type { ReaderContext } from "./formats/reader";
import { Deduper, type FirstSeen } from "./dedupe";
import { IssueLog, SKIP, makeIssue, type IssueSummary } from "./issues";
import { RowCheck, normalize, type Finding } from "./normalize";
import { SCHEMA_FIELDS, applyMapping, columnMapping, detectSchema, impliedColumns, type Detection } from "./schema";
import { COUNTED, describe, methodMismatch, methodsFor, roleSummary, tokenCheck, unknownShape, where } from "./scan-checks";
import type { TokenizedChat } from "./segments";
import { hasToolCalls } from "./tools";
import { shardIssues } from "./shards";
import { StatsAccumulator } from "./stats";
import type { ChatTokenizer } from "./tokenizer";
import { dataKindFor } from "../config/methods";
import { kindOf, turnsOf, type DataIssue, type FileFormat, type IngestOptions, type Method, type PromptSample, type ReadProgress, type Sample, type SampleKind, type SchemaName } from "./types";

export { where };

export interface ScanOptions extends IngestOptions {
  tokenizer?: ChatTokenizer;
  maxLength?: number;
  overlong?: "drop" | "truncate" | "error";
  /** Tokenize at most this many samples (stats then describe those). */
  tokenizeLimit?: number;
  /** The training method the data must suit; a dataset of another kind is an error. Without it,
   *  the result lists the methods the data can train. */
  method?: Method;
  /** grpo: the completion budget, which a prompt must leave room for within maxLength (default: grpo's default). */
  completionTokens?: number;
  /** grpo: the fields every prompt row must have (those its rewards compare completions with). */
  promptFields?: readonly string[];
  /** Each file's schema, decided by an earlier scan (no detection, no re-read). */
  fileSchemas?: (SchemaName | null)[];
  issuesPerGroup?: number;
  onProgress?: (p: ReadProgress) => void;
  /** Every row, valid or not, in order; return false to stop reading. The rows of a file that is
   *  read again (see the module doc) are delivered again, after `onReread(fileIndex)`. */
  onRow?: (row: ScannedRow) => void | boolean | Promise<void | boolean>;
  onReread?: (fileIndex: number) => void;
  signal?: AbortSignal;
}

export interface ScannedRow {
  /** 0-based position among all records of the dataset. */
  index: number;
  file: string;
  fileIndex: number;
  line?: number;
  row: number;
  /** Set for a JSON record that starts on a line with others (see Location.element). */
  element?: number;
  schema: SchemaName | null;
  sample: Sample | null;
  issues: DataIssue[];
  valid: boolean;
  duplicateOf: FirstSeen | null;
  tokens: TokenizedChat | null;
}

export interface FileSummary {
  path: string;
  format: FileFormat | null;
  bytes: number;
  sha256: string;
  rows: number;
  schema: SchemaName | null;
  /** Rows per detected schema. */
  schemas: Partial<Record<SchemaName, number>>;
  note?: string;
}

export interface ScanResult {
  path: string;
  files: FileSummary[];
  sha256: string;
  bytes: number;
  kind: SampleKind | null;
  /** The methods the data can train (whatever `method` asked for). */
  methods: Method[];
  log: IssueLog;
  /** Errors not tied to a row (an empty or unreadable file, the wrong kind of data): never skippable. */
  blocking: DataIssue[];
  stats: StatsAccumulator;
  notes: string[];
  /** The first valid samples' places, for previews. */
  handles: { index: number; file: string; line?: number; row: number }[];
  reread: boolean;
  elapsed_s: number;
}

const DEFAULT_MAX_FIELD_CHARS = 1_000_000;
/** Marks a first-seen place that is a JSON element, not a line (the dedupe table stores 32-bit numbers). */
const ELEMENT = 0x80000000;

export async function scanDataset(path: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const t0 = performance.now();
  const log = new IssueLog(opts.issuesPerGroup ?? 20);
  const files = listDataFiles(path, opts.format, (skipped) => log.add(skipped));
  const mapping = columnMapping(opts.columns);
  const stats = new StatsAccumulator();
  const dedupe = new Deduper();
  const notes: string[] = [];
  const blocking: DataIssue[] = [];
  const handles: ScanResult["handles"] = [];
  let totalBytes = files.reduce((a, f) => a + f.bytes, 0);
  let doneBytes = 0;
  let lastProgress = 0;
  let index = 0;
  let reread = false;
  let stopped = false;
  let tokenized = 0;
  let rowsRead = 0; // for progress, across files (counted again when a file is re-read)
  const summaries: FileSummary[] = [];
  const impliedSaid = new Set<string>();
  // grpo trains on prompts: conversations give the turns before their answer (normalize-prompts.ts).
  const asPrompts = opts.method !== undefined && dataKindFor(opts.method) === "prompt";

  const progress = (file: string, force = false) => {
    const now = performance.now();
    if (!opts.onProgress || (!force && now - lastProgress < 250)) return;
    lastProgress = now;
    const elapsed = (now - t0) / 1000;
    const rate = doneBytes / Math.max(elapsed, 1e-3);
    opts.onProgress({ file, bytes: doneBytes, totalBytes, rows: rowsRead, elapsed_s: elapsed, eta_s: doneBytes > 0 && rate > 0 ? Math.max(0, (totalBytes - doneBytes) / rate) : null });
  };

  const scanFile = async (f: DataFile, fi: number, expectedIn: SchemaName | null, fixed: boolean) => {
    const fileLog = new IssueLog(opts.issuesPerGroup ?? 20);
    const fileStats = new StatsAccumulator();
    const fileBlocking: DataIssue[] = [];
    const counts = new Map<SchemaName, { rows: number; first: DataIssue["line"]; firstRow: number }>();
    const fileHandles: ScanResult["handles"] = [];
    let expected = expectedIn;
    const summaryFor = (x: Finding) => {
      if (x.issue.code === "DATA_UNKNOWN_ROLE") return roleSummary(x.group!);
      if (COUNTED[x.issue.code]) return COUNTED[x.issue.code];
      if (x.issue.code === "DATA_MIXED_SCHEMA" && x.group) {
        const other = x.group as SchemaName;
        return (n: number, first: DataIssue) => ({ message: `${n} row${n === 1 ? " is" : "s are"} ${other} (${SCHEMA_FIELDS[other]}) in a file of ${expected} rows (${SCHEMA_FIELDS[expected!]}); first at ${where(first)}` });
      }
      return undefined;
    };
    const firstIndex = index;
    const ctx: ReaderContext = {
      file: f.path,
      opts,
      compression: f.compression,
      report: (issue) => {
        fileLog.add(issue);
        if (issue.severity === "error") fileBlocking.push(issue);
      },
      onBytes: (n) => {
        doneBytes += n;
        progress(f.path);
      },
      result: { bytes: 0, sha256: "" },
    };
    if (f.format === null) {
      ctx.report(makeIssue("DATA_UNSUPPORTED_FORMAT", { file: f.path }, f.note ?? "unknown format", f.hint ? { hint: f.hint } : {}));
      ctx.result = { bytes: f.bytes, sha256: await sha256File(f.path) };
    } else {
      for await (const batch of readFile(f.format, ctx)) {
        if (opts.signal?.aborted || stopped) break;
        for (const rec of batch) {
          const at = { file: rec.file, line: rec.line, row: rec.row, ...(rec.element !== undefined ? { element: rec.element } : {}) };
          const found: Finding[] = [];
          let schema: SchemaName | null = null;
          let sample: Sample | null = null;
          let duplicateOf: FirstSeen | null = null;
          let tokens: TokenizedChat | null = null;
          let excluded = false;
          fileStats.rows++;
          rowsRead++;
          if (rec.issue) found.push({ issue: rec.issue.row === undefined || rec.element !== undefined ? { ...rec.issue, row: rec.row, ...(rec.element !== undefined ? { element: rec.element } : {}) } : rec.issue });
          else if (rec.value === null || typeof rec.value !== "object" || Array.isArray(rec.value)) {
            found.push({ issue: makeIssue("DATA_NOT_OBJECT", at, `the record is ${describe(rec.value)}, not an object`) });
          } else {
            let { rec: value, source } = applyMapping(rec.value as Record<string, unknown>, mapping);
            let detected: Detection = opts.schema ? { schema: opts.schema } : detectSchema(value);
            const implied = detected.schema === null ? impliedColumns(value) : null;
            if (implied) {
              // Column names people use for a schema's fields (response → completion …), mapped without a flag.
              const renamed = applyMapping(value, implied);
              for (const [to, from] of renamed.source) source.set(to, source.get(from) ?? from);
              value = renamed.rec;
              detected = detectSchema(value);
              const said = [...implied].map(([from, to]) => `${from} → ${to}`).join(", ");
              if (!impliedSaid.has(said)) {
                impliedSaid.add(said);
                notes.push(`${f.path}: columns read by their names: ${said}`);
              }
            }
            if (detected.schema === null) found.push({ issue: unknownShape(at, value, detected, path) });
            else {
              const sch = (schema = detected.schema);
              const c = counts.get(sch) ?? { rows: 0, first: rec.line, firstRow: rec.row };
              c.rows++;
              counts.set(sch, c);
              expected ??= sch;
              // For grpo a prompt is a prompt, with or without its answer; elsewhere a prompt alone among prompt/completion rows lacks its answer.
              const prompts = asPrompts && [sch, expected].every((x) => x === "prompt" || x === "prompt_completion");
              if (sch === "prompt" && expected === "prompt_completion" && !prompts) {
                found.push({ issue: makeIssue("DATA_MISSING_FIELD", { ...at, field: "completion" }, `looks like prompt_completion (${SCHEMA_FIELDS.prompt_completion}) but has no 'completion'`) });
              } else if (sch !== expected && !prompts) {
                const firstAt = counts.get(expected);
                const since = firstAt ? `, as from ${firstAt.first !== undefined ? `line ${firstAt.first}` : `row ${firstAt.firstRow}`}` : "";
                found.push({
                  issue: makeIssue("DATA_MIXED_SCHEMA", at, `the row is ${sch} (${SCHEMA_FIELDS[sch]}) but the file is ${expected} (${SCHEMA_FIELDS[expected]})${since}`),
                  group: sch,
                });
              } else {
                const check = new RowCheck(at, { roles: opts.roles, maxFieldChars: opts.maxFieldChars ?? DEFAULT_MAX_FIELD_CHARS, textCells: f.format === "csv" || f.format === "tsv" }, source);
                sample = normalize(value, sch, check, asPrompts);
                if (sample && "fields" in sample) missingFields(sample, opts.promptFields, check);
                found.push(...check.found);
              }
            }
          }
          let valid = sample !== null && !found.some((x) => x.issue.severity === "error");
          if (valid && sample) {
            const d = dedupe.check(sample, { file: fi, line: rec.element !== undefined ? ELEMENT + rec.element : (rec.line ?? rec.row) });
            duplicateOf = d.duplicateOf;
            if (d.duplicateOf) {
              fileStats.duplicates++;
              found.push({ issue: makeIssue("DATA_DUPLICATE", at, `repeats ${firstPlace(d.duplicateOf, files, fi, path)} exactly`) });
            } else if (d.nearDuplicateOf) {
              fileStats.nearDuplicates++;
              found.push({ issue: makeIssue("DATA_NEAR_DUPLICATE", at, `differs from ${firstPlace(d.nearDuplicateOf, files, fi, path)} only in case, spacing or punctuation`) });
            }
            if ("label" in sample && !sample.label && (opts.method === undefined || opts.method === "sft")) {
              found.push({ issue: makeIssue("DATA_UNDESIRABLE", at, "labelled false (an undesirable answer): sft leaves it out") });
              if (opts.method === "sft") excluded = true;
            }
            if ("tools" in sample || hasToolCalls(turnsOf(sample) ?? [])) {
              if (opts.tokenizer && !opts.tokenizer.rendersTools) found.push({ issue: makeIssue("DATA_TOOLS_NOT_RENDERED", at, "carries tools the model's chat template does not render") });
            }
            if (opts.tokenizer && !excluded && !("text" in sample) && (opts.tokenizeLimit === undefined || tokenized < opts.tokenizeLimit)) {
              tokenized++;
              const t = tokenCheck(sample, at, found, fileStats, { tokenizer: opts.tokenizer, maxLength: opts.maxLength, overlong: opts.overlong, completionTokens: opts.completionTokens });
              if (t && !("chosen" in t)) tokens = t;
              valid = !found.some((x) => x.issue.severity === "error");
            }
          }
          if (excluded) {
            // Valid, but not a training sample for this method: neither counted as a sample nor as invalid.
          } else if (valid && sample) {
            fileStats.addSample(sample);
            if (fileHandles.length < 5) fileHandles.push({ index, file: rec.file, line: rec.line, row: rec.row });
          } else fileStats.invalid++;
          for (const x of found) fileLog.add(x.issue, x.group, summaryFor(x));
          const row: ScannedRow = { index, file: rec.file, fileIndex: fi, line: rec.line, row: rec.row, ...(rec.element !== undefined ? { element: rec.element } : {}), schema, sample: valid && !excluded ? sample : null, issues: found.map((x) => x.issue), valid, duplicateOf, tokens };
          index++;
          let next = opts.onRow?.(row);
          if (next instanceof Promise) next = await next;
          if (next === false) {
            stopped = true;
            break;
          }
        }
      }
    }
    const majority = [...counts.entries()].sort((a, b) => b[1].rows - a[1].rows)[0]?.[0] ?? null;
    if (!fixed && !stopped && majority !== null && expected !== null && majority !== expected && counts.get(majority)!.rows > counts.get(expected)!.rows) {
      // The first rows were the odd ones out: read the file again with the majority's schema.
      reread = true;
      dedupe.dropFile(fi);
      totalBytes += f.bytes;
      index = firstIndex;
      opts.onReread?.(fi);
      return scanFile(f, fi, majority, true);
    }
    log.merge(fileLog);
    stats.merge(fileStats);
    blocking.push(...fileBlocking);
    handles.push(...fileHandles.slice(0, Math.max(0, 5 - handles.length)));
    const schemas = Object.fromEntries([...counts.entries()].map(([s, c]) => [s, c.rows]));
    summaries.push({ path: f.path, format: f.format, bytes: ctx.result.bytes, sha256: ctx.result.sha256, rows: fileStats.rows, schema: expected, schemas, ...(f.note ? { note: f.note } : {}) });
    if (f.note && f.format !== null) notes.push(f.note);
  };

  for (const [fi, f] of files.entries()) {
    if (stopped || opts.signal?.aborted) break;
    await scanFile(f, fi, opts.fileSchemas?.[fi] ?? null, opts.fileSchemas !== undefined || opts.schema !== undefined);
  }
  progress(path, true);
  if (!stopped && summaries.some((s) => s.path !== path)) {
    for (const issue of shardIssues(path, summaries)) {
      if (issue.severity === "error") addBlocking(log, blocking, issue);
      else log.add(issue);
    }
  }

  const kinds = new Map<SampleKind, string[]>();
  for (const s of summaries) if (s.schema) kinds.set(kindOf(s.schema), [...(kinds.get(kindOf(s.schema)) ?? []), s.path]);
  if (kinds.size > 1) {
    const parts = [...kinds.entries()].map(([k, fs]) => `${k}: ${fs.map((p) => relative(path, p) || p).join(", ")}`);
    addBlocking(log, blocking, makeIssue("DATA_MIXED_SCHEMA", { file: path }, `the files hold different kinds of samples (${parts.join("; ")})`, { hint: "Keep one kind of sample per dataset: move the other files out of the folder." }));
  }
  const kind = kinds.size === 1 ? [...kinds.keys()][0]! : null;
  const methods = methodsFor(kind);
  if (opts.method && kind !== null && !methods.includes(opts.method)) addBlocking(log, blocking, methodMismatch(path, summaries.find((s) => s.schema)!.schema!, kind, opts.method));

  const sha256 =
    summaries.length === 1 && summaries[0]!.path === path
      ? summaries[0]!.sha256
      : createHash("sha256")
          .update(summaries.map((s) => `${relative(path, s.path)}\t${s.sha256}\n`).join(""))
          .digest("hex");
  return { path, files: summaries, sha256, bytes: summaries.reduce((a, s) => a + s.bytes, 0), kind, methods, log, blocking, stats, notes, handles, reread, elapsed_s: (performance.now() - t0) / 1000 };
}

/** A prompt row without a field its rewards read: an error here, with its line, not the worker's mid-training. */
function missingFields(sample: PromptSample, fields: readonly string[] | undefined, check: RowCheck): void {
  for (const field of fields ?? []) {
    if (sample.fields[field] !== undefined && sample.fields[field] !== null) continue;
    check.add("DATA_MISSING_FIELD", field, `${field} is missing: the rewards compare each completion with the row's ${field}`, {
      hint: `Give every row a '${field}' field (a column of that name), point the reward at a column the rows have, ${SKIP}`,
    });
  }
}

function addBlocking(log: IssueLog, blocking: DataIssue[], issue: DataIssue): void {
  log.add(issue);
  blocking.push(issue);
}

function firstPlace(f: FirstSeen, files: DataFile[], fi: number, root: string): string {
  const name = f.file === fi ? "" : `${relative(root, files[f.file]!.path)} `;
  if (f.line >= ELEMENT) return `${name}element ${f.line - ELEMENT}`;
  return `${name}${files[f.file]!.format === "parquet" ? "row" : "line"} ${f.line}`;
}

async function sha256File(path: string): Promise<string> {
  const { createReadStream } = await import("node:fs");
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest("hex");
}
