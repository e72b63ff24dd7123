/** The export's API shapes, free of Node imports so the renderer can share them. */
import * as z from "zod";

import { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS } from "./formats";

export { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS };

export const ExportOptionsSchema = z.strictObject({
  format: z
    .enum(EXPORT_FORMATS)
    .describe("safetensors: merged transformers folder; adapter: the PEFT adapter alone; gguf: llama.cpp/Ollama file; ollama: the GGUF plus a Modelfile with the chat template translated for Ollama; onnx: transformers.js folder."),
  out: z.string().min(1).describe("Folder to create (a relative path is resolved against the engine's working folder)."),
  dtype: z
    .enum(EXPORT_DTYPES)
    .nullable()
    .default(null)
    .describe("Weight dtype; null: the base model's for safetensors, float32 for adapter and onnx. gguf uses quantization instead."),
  quantization: z.enum(GGUF_QUANTIZATIONS).nullable().default(null).describe("gguf and ollama only: tensor type (null: f16). q8_0 is about half the size of f16."),
  shardSizeMb: z.number().int().positive().max(1_000_000).default(5000).describe("safetensors: largest shard file in MB (10^6 bytes)."),
  overwrite: z.boolean().default(false).describe("Replace an existing folder at `out` (only once the new export is complete)."),
});
export type ExportOptions = z.output<typeof ExportOptionsSchema>;

/** One export, as stored in the run's reports/exports.json (newest last) and returned by exportRun. */
export const ExportRecordSchema = z.looseObject({
  run_id: z.string(),
  created_at: z.string(),
  format: z.enum(EXPORT_FORMATS),
  out_dir: z.string(),
  dtype: z.enum(EXPORT_DTYPES),
  quantization: z.enum(GGUF_QUANTIZATIONS).nullable(),
  files: z.array(z.object({ path: z.string(), bytes: z.number() })),
  bytes: z.number(),
  parameters: z.number(),
  checks: z.record(z.string(), z.unknown()),
  seconds: z.number(),
});
export type ExportRecord = z.infer<typeof ExportRecordSchema>;
