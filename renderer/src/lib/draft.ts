/**
 * The wizard's draft: what the user chose so far, kept in localStorage (ui slice) so closing the
 * app loses nothing. `draftToConfig` turns it into a run config, validated by the engine's own
 * schema before Next, so the wizard and `whetstone train` accept exactly the same configs.
 */
import { GoldfishSchema, METHOD_TABLE, PREFERENCE_FIELDS, PREFERENCE_METHODS, RunConfigSchema, dataKindFor, hasSftTerm, trainsOnSeveralDevices, type RewardInput } from "../../../engine/api/public";

export const STEPS = ["model", "data", "method", "settings", "train", "evaluate", "export"] as const;
export type StepId = (typeof STEPS)[number];

/** A finished run the new one starts from (config init_from), as the Method step picked it. */
export interface StartFrom {
  id: string;
  /** The run's name: the chained run is named after it ("<name>-dpo"). */
  name: string;
  method: string;
  kind: "adapter" | "model";
  /** The model folder the run's adapter applies to: the new run's base must be the same folder. */
  base: string;
  /** Earlier links of the chain, nearest first. */
  lineage: { id: string; method: string; kind: "adapter" | "model" }[];
}

/**
 * A completed run as the start of a new one: its adapter (applied to `modelPath`, the run's own
 * base) or its full model; null while the run has no final output.
 */
export function startFromRun(run: { id: string; name: string; method: string; state: string; outputs: Record<string, string>; parent?: { run: string | null; path: string; kind: "adapter" | "model" } | null }, modelPath: string): StartFrom | null {
  if (run.state !== "completed" || !(run.outputs.adapter ?? run.outputs.model)) return null;
  const base = run.parent?.kind === "model" ? run.parent.path : modelPath;
  const lineage = run.parent?.run ? [{ id: run.parent.run, method: "", kind: run.parent.kind }] : [];
  return { id: run.id, name: run.name, method: run.method, kind: run.outputs.adapter ? "adapter" : "model", base: base.trim(), lineage };
}

/** A chained run's name: its parent's, then its method ("sft-run-dpo"); a name the user typed is kept. */
export function chainedName(d: Pick<Draft, "name" | "initFrom">, method: string): string {
  if (!d.initFrom) return d.name;
  const prefix = `${d.initFrom.name}-`;
  const auto = d.name === d.initFrom.name || (d.name.startsWith(prefix) && METHODS.includes(d.name.slice(prefix.length)));
  return auto ? `${d.initFrom.name}-${method}`.slice(0, 64) : d.name;
}

/** The preference settings the wizard shows (precompute_reference is a file-only switch; grpo's top_p and epsilon_high too). */
const PREFERENCE_DRAFT_FIELDS = {
  beta: 0,
  label_smoothing: 0,
  gamma_beta_ratio: 0,
  lambda: 0,
  desirable_weight: 0,
  undesirable_weight: 0,
  num_generations: 0,
  max_completion_tokens: 0,
  temperature: 0,
  epsilon: 0,
  num_iterations: 0,
  loss_type: "",
  scale_rewards: "",
};
/** Each preference method's settings (engine/config/schema.ts PREFERENCE_FIELDS); unset: the method's default. */
export type PreferenceDraft = { [K in keyof typeof PREFERENCE_DRAFT_FIELDS]?: (typeof PREFERENCE_DRAFT_FIELDS)[K] };
/** A grpo reward as the wizard edits it (the config's rewards entry; unset fields take the engine's defaults). */
export type RewardDraft = RewardInput;
/** What GRPO starts with: the completion's last number against the row's `answer` (GSM8K's shape; #### 72 counts as 72). */
export const DEFAULT_REWARDS: RewardDraft[] = [{ type: "numeric", field: "answer" }];

export interface Draft {
  name: string;
  modelPath: string;
  catalogId: string | null;
  dataPath: string | null;
  dataName: string | null;
  method: string;
  finetune: "lora" | "qlora" | "full";
  initFrom: StartFrom | null;
  preference: PreferenceDraft;
  /** grpo: how each sampled answer is scored. */
  rewards: RewardDraft[];
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
  /** Train on the valid rows of a file whose errors are in single rows. A choice about one file: reset for a new one. */
  skipInvalid: boolean;
  /** The data file the data-derived defaults (epochs, max length, validation split) were last filled in for. */
  suggestedFor: string | null;
  /** The config (as JSON) the user chose to train although the plan said it will not fit; any change asks again. */
  trainAnyway: string | null;
  loraR: number;
  loraAlpha: number;
  /** lora: plain LoRA; dora: weight-decomposed (a learned magnitude per output row); rslora: alpha/√r scaling. */
  loraVariant: "lora" | "dora" | "rslora";
  scheduler: "cosine" | "linear" | "wsd" | "constant";
  warmupRatio: number;
  gradientCheckpointing: boolean;
  /** GPUs that train the run together, or "auto": every GPU; a method that trains on one only gets 1. */
  devices: number | "auto";
  checkpointEvery: number;
  seed: number;
  /** The run this draft started, once Train was pressed. */
  runId: string | null;
  /** The sweep this draft started instead (Train step: "Try several settings"). */
  sweepId: string | null;
}

/** The config schema's defaults (engine/config/schema.ts): the wizard starts where `whetstone train` would. */
const SCHEMA = RunConfigSchema.parse({ model: { path: "-" }, data: { train: "-" } });
/** Goldfish's defaults, for when the user turns it on (the schema's default is off). */
const GOLDFISH = GoldfishSchema.parse({});

export const DEFAULT_DRAFT: Draft = {
  name: "my-run",
  modelPath: "",
  catalogId: null,
  dataPath: null,
  dataName: null,
  method: SCHEMA.method,
  finetune: SCHEMA.finetune,
  initFrom: null,
  preference: {},
  rewards: DEFAULT_REWARDS,
  neftune: SCHEMA.training.neftune_alpha > 0,
  neftuneAlpha: SCHEMA.training.neftune_alpha,
  goldfish: SCHEMA.training.goldfish !== null,
  goldfishK: GOLDFISH.k,
  epochs: SCHEMA.training.epochs,
  maxSteps: SCHEMA.training.max_steps,
  learningRate: SCHEMA.training.learning_rate,
  microBatchSize: SCHEMA.training.micro_batch_size,
  gradientAccumulation: SCHEMA.training.gradient_accumulation,
  maxLength: SCHEMA.data.max_length,
  validationSplit: SCHEMA.data.validation_split,
  skipInvalid: SCHEMA.data.skip_invalid ?? false,
  suggestedFor: null,
  trainAnyway: null,
  loraR: SCHEMA.lora.r,
  loraAlpha: SCHEMA.lora.alpha,
  loraVariant: SCHEMA.lora.variant,
  scheduler: SCHEMA.training.scheduler,
  warmupRatio: SCHEMA.training.warmup_ratio,
  gradientCheckpointing: SCHEMA.training.gradient_checkpointing,
  devices: SCHEMA.training.devices ?? 1,
  checkpointEvery: SCHEMA.training.checkpoint_every,
  seed: SCHEMA.training.seed,
  runId: null,
  sweepId: null,
};

/** Methods and fine-tuning modes the engine's config schema accepts today. */
export const METHODS: readonly string[] = RunConfigSchema.shape.method.unwrap().options;
export const FINETUNES: readonly string[] = RunConfigSchema.shape.finetune.unwrap().options;

/** A method with a preference block (its settings, NEFTune off by default): the pair methods and KTO. */
export const isPreferenceMethod = (method: string) => (PREFERENCE_METHODS as readonly string[]).includes(method);
/** The data kind each method trains on: conversations, (prompt, chosen, rejected) pairs, or rows labelled good/bad. */
export { dataKindFor };
/** Goldfish drops tokens from an SFT loss term: SFT and ORPO have one, DPO and SimPO do not. */
export const goldfishApplies = hasSftTerm;
/** The settings each preference method takes (the engine refuses another method's). */
export const PREFERENCE_SETTINGS: Record<string, (keyof PreferenceDraft)[]> = Object.fromEntries(
  Object.entries(PREFERENCE_FIELDS).map(([method, fields]) => [method, Object.keys(fields).filter((k): k is keyof PreferenceDraft => k in PREFERENCE_DRAFT_FIELDS)]),
);

export function draftToConfig(d: Draft): Record<string, unknown> {
  const preference = Object.fromEntries((PREFERENCE_SETTINGS[d.method] ?? []).filter((k) => d.preference[k] != null).map((k) => [k, d.preference[k]]));
  return {
    name: d.name,
    method: d.method,
    finetune: d.finetune,
    model: { path: d.modelPath.trim() },
    data: { train: d.dataPath ?? "", max_length: d.maxLength, validation_split: d.validationSplit, skip_invalid: d.skipInvalid },
    lora: { r: d.loraR, alpha: d.loraAlpha, variant: d.loraVariant ?? "lora" },
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
      ...(d.devices !== 1 && trainsOnSeveralDevices(d.method) ? { devices: d.devices } : {}),
    },
    ...(isPreferenceMethod(d.method) ? { preference } : {}),
    ...(d.method === "grpo" ? { rewards: d.rewards ?? DEFAULT_REWARDS } : {}),
    ...(d.initFrom ? { init_from: d.initFrom.id } : {}),
  };
}

/** Config fields as the Settings step labels them, so a schema complaint names what the user sees. */
const FIELD_LABELS: Record<string, string> = {
  name: "Run name",
  "model.path": "Model folder",
  "data.train": "Dataset",
  "data.max_length": "Max length",
  "data.validation_split": "Validation split",
  "data.validation": "Validation file",
  "data.skip_invalid": "Skip invalid rows",
  "data.overlong": "Samples over the max length",
  "training.gradient_checkpointing": "Gradient checkpointing",
  "training.devices": "GPUs",
  "training.packing": "Packing",
  "training.scheduler": "Schedule",
  "lora.r": "LoRA rank",
  "lora.alpha": "LoRA alpha",
  "lora.variant": "LoRA kind",
  "training.epochs": "Epochs",
  "training.max_steps": "Max steps",
  "training.micro_batch_size": "Micro-batch size",
  "training.gradient_accumulation": "Gradient accumulation",
  "training.learning_rate": "Learning rate",
  "training.warmup_ratio": "Warmup ratio",
  "training.seed": "Seed",
  "training.checkpoint_every": "Checkpoint every N steps",
  "training.neftune_alpha": "NEFTune",
  "training.goldfish.k": "Goldfish: drop one token in",
  "preference.beta": "β (beta)",
  "preference.label_smoothing": "Label smoothing",
  "preference.gamma_beta_ratio": "Target margin (γ/β)",
  "preference.lambda": "λ (lambda)",
  "preference.desirable_weight": "Weight of good answers",
  "preference.undesirable_weight": "Weight of bad answers",
  "preference.num_generations": "Answers per prompt",
  "preference.max_completion_tokens": "Longest answer (tokens)",
  "preference.temperature": "Sampling temperature",
  "preference.epsilon": "Clip range",
  "preference.num_iterations": "Updates per round",
  "preference.loss_type": "Loss averaging",
  "preference.scale_rewards": "Reward scaling",
  rewards: "Rewards",
};
export const fieldLabel = (path: string) => FIELD_LABELS[path] ?? (/^rewards\.(\d+)\.(\w+)$/.test(path) ? path.replace(/^rewards\.(\d+)\.(\w+)$/, (_, i: string, f: string) => `Reward ${Number(i) + 1}: ${REWARD_FIELD_LABELS[f] ?? f}`) : path);
const REWARD_FIELD_LABELS: Record<string, string> = { field: "field", pattern: "pattern", tolerance: "tolerance", max_chars: "longest answer", file: "file", function: "function", weight: "weight", type: "kind" };

/** What the wizard knows beyond the draft: the model check, the data report, the plan. */
export interface StepContext {
  modelCheck: { input: string; ok: boolean; checks: { ok: boolean; required: boolean; detail: string }[] } | null;
  checkingModel: boolean;
  report: { path: string; trainable: boolean; kind: string | null } | null;
  reportError: { message: string } | null;
  inspecting: boolean;
  plan: { fits: boolean; config: string } | null;
}

export interface StepState {
  /** Sentences naming what blocks Next. */
  problems: string[];
  /** A check still running: Next waits, and the step says so instead of a false error. */
  checking: string | null;
}

export function stepState(step: StepId, d: Draft, ctx: StepContext): StepState {
  const ok = (problems: string[] = [], checking: string | null = null): StepState => ({ problems, checking });
  if (step === "model") {
    const path = d.modelPath.trim();
    if (!path) return ok(["Choose a model folder (the folder with config.json, the weights and the tokenizer)."]);
    if (!ctx.modelCheck || ctx.modelCheck.input !== path) return ok([], "Checking the model folder…");
    return ok(ctx.modelCheck.checks.filter((c) => c.required && !c.ok).map((c) => c.detail));
  }
  if (step === "data") {
    if (!d.dataPath) return ok(["Drop a dataset file or choose one."]);
    if (!ctx.report || ctx.report.path !== d.dataPath) {
      if (ctx.inspecting || !ctx.reportError) return ok([], "Checking the dataset…");
      return ok([`The dataset could not be read: ${ctx.reportError.message}`]);
    }
    return ok(ctx.report.trainable ? [] : ["The dataset has errors that block training: fix them in the file and drop it again, or skip the invalid rows."]);
  }
  if (step === "method" || step === "settings") {
    const problems: string[] = [];
    const kind = ctx.report?.kind;
    const needs = dataKindFor(d.method);
    const words = { chat: "conversations", text: "plain text", preference: "preference pairs (prompt, chosen, rejected)", unpaired: "answers labelled good or bad (KTO rows)", prompt: "prompts (and the answers your rewards check)" } as Record<string, string>;
    // Conversations and plain text both train SFT; GRPO takes prompts, or conversations (the turns before their answer).
    const trains = (METHOD_TABLE as Record<string, { trains: readonly string[] }>)[d.method]?.trains ?? [needs];
    const fits = !kind || trains.includes(kind) || (needs === "chat" && kind === "text");
    if (kind && !fits) {
      const methods = kind === "preference" ? "choose DPO, SimPO or ORPO" : kind === "unpaired" ? "choose KTO" : kind === "prompt" ? "choose GRPO" : "choose SFT";
      problems.push(`The dataset holds ${words[kind] ?? kind}; ${d.method.toUpperCase()} trains on ${words[needs]}: ${methods}.`);
    }
    if (d.method === "grpo") {
      const answer = Number(d.preference.max_completion_tokens ?? PREFERENCE_FIELDS.grpo.max_completion_tokens);
      if (d.maxLength <= answer) problems.push(`The max length (${d.maxLength} tokens) leaves no room for the prompt beside answers of up to ${answer} tokens: raise the max length in Settings, or shorten the answers.`);
    }
    if (d.initFrom?.kind === "adapter" && d.initFrom.base !== d.modelPath.trim())
      problems.push(`The run ${d.initFrom.id} you start from trained an adapter for ${d.initFrom.base}; choose that model in step 1, or start from the base model.`);
    const r = RunConfigSchema.safeParse(draftToConfig(d));
    if (!r.success) problems.push(...r.error.issues.map((i) => `${fieldLabel(i.path.join("."))}: ${i.message}`));
    if (step === "settings" && problems.length === 0 && ctx.plan && !ctx.plan.fits && ctx.plan.config === JSON.stringify(draftToConfig(d)) && d.trainAnyway !== ctx.plan.config)
      problems.push("The plan says this will not fit in memory: apply one of the suggested changes, or choose “Train anyway”.");
    return ok(problems);
  }
  return ok();
}

/** Problems only (tests, and steps that have nothing to check). */
export function stepProblems(step: StepId, d: Draft, ctx: StepContext): string[] {
  return stepState(step, d, ctx).problems;
}
