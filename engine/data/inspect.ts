/**
 * inspectDataset: everything a person needs before training on a file, in one streaming pass:
 * format, schema, issues (with file, line, field and fix), statistics (with the base model's
 * tokenizer when given) and handles to preview samples, ending in one verdict line.
 */
import { basename } from "node:path";
import { makeIssue } from "./issues";
import type { DatasetReport, InspectOptions } from "./report";
import { scanDataset, type ScanResult } from "./scan";
import { loadChatTokenizer } from "./tokenizer";
import type { Method, ReadProgress } from "./types";

export interface InspectHooks {
  onProgress?: (p: ReadProgress) => void;
  signal?: AbortSignal;
}

export async function inspectDataset(path: string, opts: InspectOptions = {}, hooks: InspectHooks = {}): Promise<DatasetReport> {
  const tokenizer = opts.model ? await loadChatTokenizer(opts.model) : undefined;
  const maxLength = opts.maxLength ?? 1024;
  const overlong = opts.overlong ?? "drop";
  const scan = await scanDataset(path, {
    format: opts.format,
    schema: opts.schema,
    columns: opts.columns,
    roles: opts.roles,
    method: opts.method,
    completionTokens: opts.completionTokens,
    promptFields: opts.promptFields,
    tokenizer: tokenizer?.template ? tokenizer : undefined,
    maxLength,
    overlong,
    tokenizeLimit: opts.tokenizeLimit,
    onProgress: hooks.onProgress,
    signal: hooks.signal,
  });
  const notes = [...scan.notes];
  if (tokenizer && !tokenizer.template) notes.push(`${tokenizer.dir} has no chat template: token statistics are skipped (training needs one).`);
  if (opts.tokenizeLimit !== undefined && scan.stats.samples > opts.tokenizeLimit) notes.push(`Token statistics cover the first ${opts.tokenizeLimit} of ${scan.stats.samples} samples.`);
  const stats = scan.stats.result(tokenizer?.template ? { tokenizer: basename(tokenizer.dir), templateSource: tokenizer.templateSource, maxLength, overlong, tokensPerSecond: opts.tokensPerSecond } : undefined);
  if (scan.blocking.length === 0) {
    const left = stats.tokens ? stats.tokens.kept : stats.samples;
    if (stats.rows > 0 && left === 0) {
      const why = stats.samples === 0 ? `all ${stats.rows} rows are invalid` : `all ${stats.samples} valid samples are dropped by max_length ${maxLength} or have no trained token`;
      const issue = makeIssue("DATA_EMPTY", { file: path }, `nothing to train on: ${why}`);
      scan.log.add(issue);
      scan.blocking.push(issue);
    }
  }
  return buildReport(scan, stats, notes, Boolean(opts.skipInvalid), opts.method);
}

const KIND_NAMES: Record<string, string> = { chat: "conversations", preference: "preference pairs", unpaired: "unpaired preference (label true/false)", prompt: "prompts (and the fields rewards read)", text: "plain text" };

function buildReport(scan: ScanResult, stats: DatasetReport["stats"], notes: string[], skipInvalid: boolean, method: Method | undefined): DatasetReport {
  const errors = scan.log.count("error");
  const warnings = scan.log.count("warning");
  const formats = [...new Set(scan.files.map((f) => f.format).filter((f) => f !== null))];
  const schemas = [...new Set(scan.files.map((f) => f.schema).filter((s) => s !== null))];
  const rowErrorsOnly = scan.blocking.length === 0;
  // Without a method, data that no method trains (plain text) is not trainable.
  const trainable = rowErrorsOnly && stats.samples > 0 && (stats.invalid_rows === 0 || skipInvalid) && (method !== undefined || scan.methods.length > 0);
  if (!method && scan.kind) {
    notes.unshift(scan.methods.length ? `${KIND_NAMES[scan.kind]}: trainable with ${scan.methods.join(", ")}${scan.kind === "unpaired" ? " (sft leaves out the rows labelled false)" : ""}` : `${KIND_NAMES[scan.kind]}: no training method takes it yet (continued pretraining is not available)`);
  }
  return {
    path: scan.path,
    format: formats.length === 0 ? null : formats.length === 1 ? formats[0]! : "mixed",
    schema: schemas.length === 0 ? null : schemas.length === 1 ? schemas[0]! : "mixed",
    kind: scan.kind,
    methods: scan.methods,
    files: scan.files.map((f) => ({ ...f, schemas: f.schemas as Record<string, number> })),
    sha256: scan.sha256,
    bytes: scan.bytes,
    stats,
    errors,
    warnings,
    trainable,
    skip_invalid: skipInvalid,
    verdict: verdict(stats, errors, warnings, trainable, rowErrorsOnly, skipInvalid, scan.kind === "preference" ? "pair" : "sample"),
    summary: scan.log.summaries(),
    issues: scan.log.issues(),
    preview: { samples: stats.samples, handles: scan.handles },
    notes,
    elapsed_s: Math.round(scan.elapsed_s * 1000) / 1000,
  };
}

function verdict(stats: DatasetReport["stats"], errors: number, warnings: number, trainable: boolean, rowErrorsOnly: boolean, skipInvalid: boolean, unit: "sample" | "pair"): string {
  const n = (x: number, what: string) => `${x.toLocaleString("en-US")} ${what}${x === 1 ? "" : "s"}`;
  const w = warnings ? `, ${n(warnings, "warning")}` : "";
  const kept = stats.tokens ? ` (${stats.tokens.kept.toLocaleString("en-US")} within max_length, ${stats.tokens.tokens_per_epoch.toLocaleString("en-US")} tokens per epoch)` : "";
  if (trainable && stats.invalid_rows === 0) return `ready to train: ${n(stats.samples, unit)}${kept}${w}`;
  if (trainable) return `trainable with --skip-invalid: ${n(stats.samples, unit)}${kept}; ${n(stats.invalid_rows, "invalid row")} will be skipped${w}`;
  if (rowErrorsOnly && stats.samples > 0) {
    return `not trainable: ${n(errors, "error")} in ${n(stats.invalid_rows, "row")}${skipInvalid ? "" : `; --skip-invalid would train on the other ${n(stats.samples, unit)}`}${w}`;
  }
  return `not trainable: ${n(errors, "error")}${w}`;
}
