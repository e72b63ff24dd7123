/** API shapes for the machine and model methods (doctor, planRun, preflightRun, listModels, pullModel); Node-free (the renderer imports the contract). */
import * as z from "zod";

const Level = z.enum(["ok", "info", "warning", "error"]);
export const DoctorReportSchema = z.object({
  /** gpus: the GPUs training.devices "auto" trains on (what the wizard's "All" means). */
  summary: z.object({ accelerator: z.string(), ready: z.boolean(), gpus: z.number().int().min(0) }),
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
  /** The data's token statistics (the data step's report): the plan then sizes rows by what the data fills. */
  data: z.strictObject({ samples: z.number().int().min(0), tokens_per_epoch: z.number().int().min(0), longest: z.number().int().min(0) }).optional(),
});

export const RunPlanSchema = z.object({
  /** One GPU's memory (or the system's), and how many GPUs the machine has. */
  device: z.object({ kind: z.enum(["cuda", "cpu"]), name: z.string(), memoryBytes: z.number(), count: z.number().optional() }),
  /** Processes that train together: above 1 the estimate is one GPU's (on the CPU, one of the processes sharing it). */
  devices: z.number(),
  input: z.record(z.string(), z.unknown()),
  estimate: z.object({ parameters: z.number(), trainable: z.number(), bytes: z.record(z.string(), z.number()), total: z.number() }),
  fits: z.boolean(),
  /** Close to the device's limit: `whetstone train` runs a preflight step first. */
  near_limit: z.boolean(),
  suggestions: z.array(
    z.object({
      change: z.string(),
      total: z.number(),
      /** The change in words, and the settings it sets (the app applies them). */
      words: z.string(),
      apply: z.object({ gradient_checkpointing: z.boolean().optional(), micro_batch_size: z.number().optional(), gradient_accumulation: z.number().optional(), finetune: z.literal("lora").optional(), max_length: z.number().optional(), devices: z.number().optional() }),
    }),
  ),
  flopsPerToken: z.number(),
  tokensPerSecondGuess: z.number().nullable(),
  /** An earlier run of the same model and method on this device: its measured tokens/s (and tokens per epoch on the same data). */
  measured: z.object({ run: z.string(), tokensPerSecond: z.number(), sameShape: z.boolean(), tokensPerEpoch: z.number().nullable() }).nullable(),
  secondsPerEpoch: z.number().nullable(),
  /** Rows as the data fills them (with `data` in the request): tokens per row, and whether max_length exceeds the longest sample. */
  data: z.object({ samples: z.number(), tokens_per_epoch: z.number(), longest: z.number(), sequence_length: z.number(), max_length_beyond_longest: z.boolean() }).nullable(),
  text: z.string(),
});

const CheckItem = z.object({ item: z.enum(["folder", "config", "weights", "tokenizer", "chat_template"]), ok: z.boolean(), required: z.boolean(), detail: z.string() });
/** engine/models/check.ts: is a folder a model Whetstone can train, and what is missing. */
export const ModelCheckSchema = z.object({ input: z.string(), path: z.string(), ok: z.boolean(), adapter: z.boolean(), architecture: z.string().nullable(), checks: z.array(CheckItem) });

/** engine/fs/browse.ts: one folder's sub-folders, within the home, the HF cache and mounted volumes. */
export const FolderListingSchema = z.object({
  path: z.string(),
  parent: z.string().nullable(),
  roots: z.array(z.object({ label: z.string(), path: z.string() })),
  folders: z.array(z.object({ name: z.string(), path: z.string(), model: z.enum(["model", "adapter"]).nullable() })),
  model: z.enum(["model", "adapter"]).nullable(),
  truncated: z.boolean(),
});

/** engine/models/starting-points.ts: base models on this machine, and finished runs a new run can start from. */
export const StartingPointsSchema = z.object({
  models: z.array(z.object({ path: z.string(), label: z.string(), source: z.enum(["recent", "cache"]), used_at: z.string().nullable(), bytes: z.number().nullable() })),
  runs: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      method: z.string(),
      finetune: z.string(),
      finished_at: z.string().nullable(),
      kind: z.enum(["adapter", "model"]),
      path: z.string(),
      base: z.string(),
      lineage: z.array(z.object({ id: z.string(), method: z.string(), kind: z.enum(["adapter", "model"]) })),
    }),
  ),
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
