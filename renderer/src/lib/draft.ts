/**
 * The wizard's draft: what the user chose so far, kept in localStorage (ui slice) so closing the
 * app loses nothing. `draftToConfig` turns it into a run config, validated by the engine's own
 * schema before Next, so the wizard and `whetstone train` accept exactly the same configs.
 */
import { RunConfigSchema } from "../../../engine/config/schema";

export const STEPS = ["model", "data", "method", "settings", "train", "evaluate", "export"] as const;
export type StepId = (typeof STEPS)[number];

export interface Draft {
  name: string;
  modelPath: string;
  catalogId: string | null;
  dataPath: string | null;
  dataName: string | null;
  method: string;
  finetune: "lora" | "qlora" | "full";
  neftune: boolean;
  neftuneAlpha: number;
  goldfish: boolean;
  goldfishK: number;
  epochs: number;
  maxSteps: number | null;
  learningRate: number;
  microBatchSize: number;
  gradientAccumulation: number;
  maxLength: number;
  validationSplit: number;
  /** Train on the valid rows of a file whose errors are in single rows (they are listed in the run). */
  skipInvalid: boolean;
  loraR: number;
  loraAlpha: number;
  scheduler: "cosine" | "linear" | "wsd" | "constant";
  warmupRatio: number;
  gradientCheckpointing: boolean;
  checkpointEvery: number;
  seed: number;
  /** The run this draft started, once Train was pressed. */
  runId: string | null;
}

export const DEFAULT_DRAFT: Draft = {
  name: "my-run",
  modelPath: "",
  catalogId: null,
  dataPath: null,
  dataName: null,
  method: "sft",
  finetune: "lora",
  neftune: true,
  neftuneAlpha: 5,
  goldfish: false,
  goldfishK: 4,
  epochs: 1,
  maxSteps: null,
  learningRate: 2e-4,
  microBatchSize: 4,
  gradientAccumulation: 1,
  maxLength: 1024,
  validationSplit: 0,
  skipInvalid: false,
  loraR: 16,
  loraAlpha: 32,
  scheduler: "cosine",
  warmupRatio: 0.03,
  gradientCheckpointing: false,
  checkpointEvery: 100,
  seed: 42,
  runId: null,
};

/** Methods and fine-tuning modes the engine's config schema accepts today. */
export const METHODS: readonly string[] = RunConfigSchema.shape.method.unwrap().options;
export const FINETUNES: readonly string[] = RunConfigSchema.shape.finetune.unwrap().options;

const PREFERENCE = ["dpo", "simpo", "orpo"];
export const isPreferenceMethod = (method: string) => PREFERENCE.includes(method);
/** Goldfish drops tokens from an SFT loss term: SFT and ORPO have one, DPO and SimPO do not. */
export const goldfishApplies = (method: string) => method === "sft" || method === "orpo";

export function draftToConfig(d: Draft): Record<string, unknown> {
  return {
    name: d.name,
    method: d.method,
    finetune: d.finetune,
    model: { path: d.modelPath.trim() },
    data: { train: d.dataPath ?? "", max_length: d.maxLength, validation_split: d.validationSplit, skip_invalid: d.skipInvalid },
    lora: { r: d.loraR, alpha: d.loraAlpha },
    training: {
      epochs: d.epochs,
      max_steps: d.maxSteps,
      micro_batch_size: d.microBatchSize,
      gradient_accumulation: d.gradientAccumulation,
      learning_rate: d.learningRate,
      scheduler: d.scheduler,
      warmup_ratio: d.warmupRatio,
      seed: d.seed,
      gradient_checkpointing: d.gradientCheckpointing,
      checkpoint_every: d.checkpointEvery,
      neftune_alpha: d.neftune ? d.neftuneAlpha : 0,
      goldfish: d.goldfish && goldfishApplies(d.method) ? { k: d.goldfishK } : null,
    },
    ...(isPreferenceMethod(d.method) ? { preference: {} } : {}),
  };
}

/** Problems that block Next on a step, each a sentence naming the field; empty when it may go on. */
export function stepProblems(step: StepId, d: Draft, ctx: { dataTrainable: boolean; dataKind?: string | null }): string[] {
  if (step === "model") return d.modelPath.trim() ? [] : ["Choose a local model folder (the folder with config.json and the weights)."];
  if (step === "data") {
    if (!d.dataPath) return ["Drop a dataset file or choose one."];
    return ctx.dataTrainable ? [] : ["The dataset has errors that block training: fix them in the file, then drop it again."];
  }
  if (step === "method" || step === "settings") {
    const problems: string[] = [];
    if (ctx.dataKind === "preference" && !isPreferenceMethod(d.method)) problems.push("The dataset holds preference pairs (chosen/rejected): choose DPO, SimPO or ORPO.");
    if (ctx.dataKind && ctx.dataKind !== "preference" && isPreferenceMethod(d.method)) problems.push(`${d.method.toUpperCase()} trains on preference pairs (prompt, chosen, rejected); this dataset holds ${ctx.dataKind} rows.`);
    const r = RunConfigSchema.safeParse(draftToConfig(d));
    if (!r.success) problems.push(...r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
    return problems;
  }
  return [];
}
