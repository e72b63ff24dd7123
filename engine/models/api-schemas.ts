/** API shapes for the machine and model methods (doctor, planRun, preflightRun, listModels, pullModel); Node-free (the renderer imports the contract). */
import { z } from "zod";

const Level = z.enum(["ok", "info", "warning", "error"]);
export const DoctorReportSchema = z.object({
  summary: z.object({ accelerator: z.string(), ready: z.boolean() }),
  findings: z.array(z.object({ level: Level, topic: z.string(), message: z.string(), fix: z.string().optional() })),
  probes: z.record(z.string(), z.unknown()),
});

export const PlanInputSchema = z.strictObject({
  /** A config object (wizard) … */
  config: z.unknown().optional(),
  /** … or a config file on this machine (CLI). */
  configPath: z.string().min(1).optional(),
  /** Folder that relative paths in `config` are resolved against. */
  baseDir: z.string().min(1).optional(),
});

export const RunPlanSchema = z.object({
  device: z.object({ kind: z.enum(["cuda", "cpu"]), name: z.string(), memoryBytes: z.number() }),
  input: z.record(z.string(), z.unknown()),
  estimate: z.object({ parameters: z.number(), trainable: z.number(), bytes: z.record(z.string(), z.number()), total: z.number() }),
  fits: z.boolean(),
  /** Close to the device's limit: `whetstone train` runs a preflight step first. */
  near_limit: z.boolean(),
  suggestions: z.array(z.object({ change: z.string(), total: z.number() })),
  flopsPerToken: z.number(),
  tokensPerSecondGuess: z.number().nullable(),
  /** An earlier run of the same model and method on this device: its measured tokens/s (and tokens per epoch on the same data). */
  measured: z.object({ run: z.string(), tokensPerSecond: z.number(), sameShape: z.boolean(), tokensPerEpoch: z.number().nullable() }).nullable(),
  secondsPerEpoch: z.number().nullable(),
  text: z.string(),
});

export const PullResultSchema = z.object({
  repo_id: z.string(),
  repo_type: z.enum(["model", "dataset"]),
  commit: z.string(),
  path: z.string(),
  files: z.number(),
  bytes: z.number(),
  downloaded_bytes: z.number(),
  verified_files: z.number(),
});

export const CatalogModelSchema = z.object({
  id: z.string(),
  family: z.string(),
  kind: z.enum(["base", "instruct"]),
  parameters: z.number().int().positive(),
  license: z.string(),
  gated: z.boolean(),
  context_length: z.number().int().positive(),
  chat_template: z.boolean(),
  architecture: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])),
});
export type CatalogModel = z.infer<typeof CatalogModelSchema>;

export const ModelListingSchema = CatalogModelSchema.extend({
  cached: z.string().nullable(),
  /** Estimated peak bytes and whether it fits the device, per method, at the default run settings. */
  fits: z.record(z.string(), z.object({ bytes: z.number(), fits: z.boolean() })),
});
export type ModelListing = z.infer<typeof ModelListingSchema>;

/** The worker's measured training step (engine/plan/preflight.ts). */
export const PreflightResultSchema = z.object({
  device: z.string(),
  measure: z.string(),
  peak_bytes: z.number().nullable(),
  reserved_bytes: z.number().nullable(),
  baseline_bytes: z.number().nullable(),
  limit_bytes: z.number().nullable(),
  out_of_memory: z.boolean(),
  fits: z.boolean(),
  micro_batch_size: z.number(),
  /** Sequences in the measured micro-batch: micro_batch_size, or 2 × micro_batch_size for DPO/SimPO/ORPO (pairs). */
  rows: z.number().optional(),
  method: z.string().optional(),
  max_length: z.number(),
  seconds: z.number(),
});
export type PreflightResult = z.infer<typeof PreflightResultSchema>;
