/**
 * Export, engine side: which weights to export and how, the facts for the model card, and the
 * record of every export in the run folder. The worker writes the files
 * (engine/worker/whetstone_worker/jobs/export/); this module builds its command from the run store and,
 * once an export is complete, appends it to reports/exports.json (rewritten atomically), so the run
 * knows where its exports went.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Command } from "../protocol/messages";
import { effectiveBase, loadLineage, trainedWeights } from "../runs/lineage";
import type { RunStore } from "../runs/store";
import { loadAuditReport } from "../audit/audit";
import { writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";
import { VERSION } from "../version";
import { EXPORT_DTYPES, type ExportOptions, type ExportRecord } from "./schema";

export { ExportOptionsSchema, ExportRecordSchema, type ExportOptions, type ExportRecord } from "./schema";

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

/** What the model card says: base, method and hyperparameters, data and its hash, results, audit. */
export function cardFacts(store: RunStore, runId: string): Record<string, unknown> {
  const status = store.get(runId);
  const config = store.config(runId);
  const manifest = readJson(join(store.runDir(runId), "data", "manifest.json")) as Manifest | null;
  const metrics = store.readMetrics(runId);
  const lastVal = [...metrics].reverse().find((m) => typeof m.val_loss === "number");
  const last = metrics.at(-1);
  const audit = loadAuditReport(store, runId) as (Record<string, unknown> & { counts?: { used?: number }; created_at?: string }) | null;
  const { goldfish, ...training } = config.training;
  // The model the weights were trained from: a chained run's parent model, else model.path.
  const base = effectiveBase(store, runId);
  // A merged run trained nothing itself: its card names the merge and its sources, not the first
  // source's training settings (which its stored config carries only for its data snapshot).
  const merge = loadLineage(store, runId) as { method?: string; p?: number; merged_from?: { run_id: string; name?: string }[]; ingredients?: string[] } | null;
  const hyperparameters = merge
    ? { merge: { method: merge.method, ...(merge.p !== undefined ? { p: merge.p } : {}), runs: (merge.ingredients ?? merge.merged_from?.map((m) => m.run_id) ?? []).join(", ") } }
    : {
        ...(config.finetune !== "full" ? { lora: config.lora } : {}),
        ...(config.method !== "sft" && config.preference ? { preference: config.preference } : {}),
        training: { ...training, goldfish: goldfish ?? "off" },
        data: { max_length: config.data.max_length, overlong: config.data.overlong },
      };
  return {
    name: config.name,
    run_id: runId,
    base_model: base,
    base_model_name: hubId(base) ?? basename(base),
    method: merge ? "merge" : config.method,
    finetune: merge ? merge.method : config.finetune,
    ...(status.parent ? { chained_from: status.parent.run ?? status.parent.path } : {}),
    hyperparameters,
    dataset: manifest
      ? {
          name: basename(manifest.source),
          sha256: manifest.source_sha256,
          rows: manifest.rows,
          ...(manifest.validation ? { validation: { name: basename(manifest.validation.source), sha256: manifest.validation.source_sha256, rows: manifest.validation.rows } } : {}),
        }
      : { name: basename(config.data.train) },
    metrics: {
      steps: status.step,
      first_loss: status.first_loss,
      final_loss: status.last_loss,
      ...(lastVal ? { validation_loss: lastVal.val_loss, validation_loss_step: lastVal.step } : {}),
      ...(typeof last?.trained_tokens === "number" ? { trained_tokens: last.trained_tokens } : {}),
    },
    ...(audit ? { evaluation: { audit: { base: audit.base, tuned: audit.tuned, samples: audit.counts?.used ?? null, audited_at: audit.created_at ?? null } } } : {}),
    trained_at: status.finished_at,
    whetstone_version: VERSION,
  };
}

type Manifest = { source: string; source_sha256: string; rows: number; validation?: { source: string; source_sha256: string; rows: number } | null };

/** "org/name" for a model in the Hugging Face cache (…/models--org--name/snapshots/<rev>). */
function hubId(path: string): string | null {
  const m = /models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]/.exec(path);
  return m ? `${m[1]}/${m[2]}` : null;
}

export function saveExportRecord(store: RunStore, runId: string, result: Record<string, unknown>): ExportRecord {
  const record = { ...result, run_id: runId, created_at: new Date().toISOString() } as ExportRecord;
  writeJsonAtomic(exportsPath(store, runId), [...loadExports(store, runId), record]);
  return record;
}

export function loadExports(store: RunStore, runId: string): ExportRecord[] {
  const stored = readJson(exportsPath(store, runId));
  return Array.isArray(stored) ? (stored as ExportRecord[]) : [];
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

function readJson(path: string): unknown {
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : null;
}
