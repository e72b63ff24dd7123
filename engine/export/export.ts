/**
 * Export, engine side: which weights to export and how, the facts for the model card (card-facts.ts), and the
 * record of every export in the run folder. The worker writes the files
 * (engine/worker/whetstone_worker/jobs/export/); this module builds its command from the run store and,
 * once an export is complete, appends it to reports/exports.json (rewritten atomically), so the run
 * knows where its exports went.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "../protocol/messages";
import { effectiveBase, trainedWeights } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { appendRecord, readJson, readRecords } from "../util/records";
import { WhetstoneError } from "../util/errors";
import { cardFacts } from "./card-facts";
import { EXPORT_DTYPES, type ExportOptions, type ExportRecord } from "./schema";

export { ExportOptionsSchema, ExportRecordSchema, type ExportOptions, type ExportRecord } from "./schema";
export { cardFacts } from "./card-facts";

type Dtype = (typeof EXPORT_DTYPES)[number];

export function exportsPath(store: Pick<RunStore, "runDir">, runId: string): string {
  return join(store.runDir(runId), "reports", "exports.json");
}

/** The worker command for exporting `runId`, or an error saying why it cannot be exported as asked. */
export function exportCommand(store: RunStore, runId: string, opts: ExportOptions): (id: string) => Command {
  const tuned = trainedWeights(store, runId, "export", "RUN_NOT_EXPORTABLE", ", then export it");
  if (opts.format === "adapter" && tuned.kind !== "adapter") {
    throw new WhetstoneError({ code: "EXPORT_INVALID", message: `Run ${runId} trained every weight (finetune: full); it has no adapter.`, hint: "Export it with --format safetensors, gguf or onnx." });
  }
  if (opts.quantization !== null && !usesGguf(opts.format)) {
    throw new WhetstoneError({ code: "EXPORT_INVALID", message: `--quant ${opts.quantization} applies to gguf and ollama exports only, not ${opts.format}.`, hint: "Leave --quant out, or use --format gguf or ollama." });
  }
  if (opts.format === "onnx" && opts.dtype !== null && opts.dtype !== "float32") {
    throw new WhetstoneError({ code: "EXPORT_UNSUPPORTED", message: `ONNX export writes float32 weights, not ${opts.dtype}.`, hint: "Leave --dtype out for onnx." });
  }
  const out = resolve(opts.out);
  if (existsSync(out) && !opts.overwrite) {
    throw new WhetstoneError({ code: "EXPORT_EXISTS", message: `The export folder ${out} already exists.`, hint: "Pass --overwrite to replace it (only once the new export is complete), or choose another --out." });
  }
  const base = effectiveBase(store, runId);
  const dtype = opts.dtype ?? defaultDtype(opts.format, base);
  const card = cardFacts(store, runId);
  return (id) => ({
    v: 1,
    type: "export",
    id,
    model_path: base,
    tuned_path: tuned.path,
    tuned_kind: tuned.kind,
    format: opts.format,
    out_dir: out,
    dtype,
    quantization: usesGguf(opts.format) ? (opts.quantization ?? "f16") : null,
    shard_size_mb: opts.shardSizeMb,
    overwrite: opts.overwrite,
    card,
  });
}

/** The formats written as a GGUF file, so quantized rather than cast. */
function usesGguf(format: ExportOptions["format"]): boolean {
  return format === "gguf" || format === "ollama";
}

/** safetensors keeps the base model's dtype (a bf16 model stays bf16); the rest export float32. */
function defaultDtype(format: ExportOptions["format"], modelPath: string): Dtype {
  if (format !== "safetensors") return "float32";
  const stored = readJson(join(modelPath, "config.json")) as { dtype?: unknown; torch_dtype?: unknown } | null;
  const dtype = stored?.dtype ?? stored?.torch_dtype;
  return (EXPORT_DTYPES as readonly unknown[]).includes(dtype) ? (dtype as Dtype) : "bfloat16";
}

export function saveExportRecord(store: RunStore, runId: string, result: Record<string, unknown>): ExportRecord {
  return appendRecord(exportsPath(store, runId), { ...result, run_id: runId, created_at: new Date().toISOString() } as ExportRecord);
}

export function loadExports(store: RunStore, runId: string): ExportRecord[] {
  return readRecords<ExportRecord>(exportsPath(store, runId));
}

/** The one-paragraph summary `whetstone export` prints. */
export function formatExport(record: ExportRecord): string {
  const kind = record.quantization ? `${record.format} ${record.quantization}` : `${record.format} ${record.dtype}`;
  const lines = [`exported ${record.run_id} as ${kind} to ${record.out_dir} (${megabytes(record.bytes)} in ${record.seconds.toFixed(1)} s)`];
  for (const f of record.files) lines.push(`  ${f.path.padEnd(40)} ${megabytes(f.bytes).padStart(10)}`);
  for (const [k, v] of Object.entries(record.checks ?? {})) lines.push(`  check ${k}: ${String(v)}`);
  return lines.join("\n");
}

function megabytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 2)} MB`;
}
