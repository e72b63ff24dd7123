/**
 * A sweep: one config trained at several settings (a grid, or N of its points drawn at random), weak
 * trials stopped early by their first steps' signals, and the judge picking the best of the rest
 * (issue #19). The spec comes from a config file's `sweep:` block and the command's flags; the
 * status is the sweep's whole state on disk (sweeps/<id>/sweep.json), so a killed sweep resumes.
 */
import { z } from "zod";
import { JOB_HEADER } from "../util/job-header";

export const EARLY_STOP_RULES = ["off", "signals", "val"] as const;
export type EarlyStopRule = (typeof EARLY_STOP_RULES)[number];

export const SettingValueSchema = z.union([z.number(), z.string(), z.boolean(), z.null()]);
export type SettingValue = z.infer<typeof SettingValueSchema>;

export const SweepSpecSchema = z.strictObject({
  grid: z
    .record(z.string().min(1), z.array(SettingValueSchema).min(1).max(100))
    .default({})
    .describe("Config fields by their dotted name, each with the values to try, e.g. {training.learning_rate: [5e-5, 1e-4, 2e-4], lora.r: [8, 16]}: every combination is a trial."),
  random: z.number().int().min(1).max(1000).nullable().default(null).describe("Train this many of the grid's combinations, drawn at random (seeded), instead of all."),
  seed: z.number().int().min(0).default(0).describe("Seed of the random draw."),
  budget_steps: z.number().int().min(1).nullable().default(null).describe("Train each trial for at most this many optimizer steps (sets training.max_steps)."),
  budget_minutes: z.number().positive().nullable().default(null).describe("Stop the sweep after this many minutes: the running trial stops with a checkpoint, the ones not started are skipped; the judge picks among the trials that finished."),
  early_stop: z
    .enum(EARLY_STOP_RULES)
    .default("signals")
    .describe("off; signals: every trial trains its warm-up, then those whose training loss is in the worse part are stopped (and one whose loss diverges, at once); val: the same ranking by validation loss (needs held-out data)."),
  warmup: z.number().gt(0).lt(1).default(0.25).describe("The share of each trial's steps it trains before the trials are ranked."),
  stop_fraction: z.number().gt(0).lt(1).default(0.5).describe("The worse share of the trials that is stopped (0.5: those worse than the median)."),
  min_compared: z.number().int().min(2).max(100).default(3).describe("Trials needed for a ranking (with fewer, only a diverging loss stops one)."),
  diverge_ratio: z.number().gt(1).default(1.5).describe("A trial diverges when its mean loss over the last quarter of the warm-up exceeds its first step's loss by this factor."),
  judge: z.string().min(1).nullable().default(null).describe("The judge that picks the best trial: a local ONNX judge folder or an OpenAI-compatible URL; null: the default judge."),
  prompts: z.string().min(1).nullable().default(null).describe("Prompts the trials answer for the judge (as for compare); null: the held-out split of the data."),
  limit: z.number().int().positive().max(100_000).default(200).describe("At most this many prompts."),
  max_new_tokens: z.number().int().min(1).max(32_768).default(256).describe("The longest answer each trial gives the judge, in tokens."),
  judge_model: z.string().min(1).nullable().default(null).describe("The model to ask an OpenAI-compatible judge for (default: the first the server lists)."),
  resamples: z.number().int().min(10).max(100_000).default(1000).describe("Bootstrap resamples for the win rates' confidence intervals."),
  parallel: z
    .union([z.literal("auto"), z.number().int().min(1).max(64)])
    .default("auto")
    .describe("Trials that train at once: auto, as many as the memory plan says fit in the device's free memory (on a CPU at most one per core, the cores split between them); a number caps that (1: one after another)."),
});
export type SweepSpec = z.output<typeof SweepSpecSchema>;

/** paused: trained to its warm-up, with a checkpoint, until every trial has and they are ranked. */
export const TRIAL_STATES = ["pending", "running", "paused", "completed", "stopped", "failed", "skipped"] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

/** What the early-stop rule read of a trial at its warm-up step. */
export const TrialSignalsSchema = z.object({
  step: z.number().int(),
  first_loss: z.number().nullable(),
  loss: z.number().nullable(),
  grad_norm: z.number().nullable(),
  val_loss: z.number().nullable(),
  /** The figure the rule ranks by (lower is better): the training loss over the warm-up's last quarter (signals) or the validation loss (val); null when it could not be read. */
  score: z.number().nullable(),
});
export type TrialSignals = z.infer<typeof TrialSignalsSchema>;

export const TrialSchema = z.object({
  index: z.number().int().min(1),
  settings: z.record(z.string(), SettingValueSchema),
  run_id: z.string().nullable(),
  state: z.enum(TRIAL_STATES),
  /** Why it was stopped, skipped or failed, in words. */
  reason: z.string().nullable(),
  signals: TrialSignalsSchema.nullable(),
  steps: z.number().int().nullable(),
  total_steps: z.number().int().nullable(),
  final_loss: z.number().nullable(),
  val_loss: z.number().nullable(),
  /** Steps a stopped trial did not train (what early stopping saved). */
  saved_steps: z.number().int().min(0),
});
export type Trial = z.infer<typeof TrialSchema>;

export const SWEEP_STATES = ["running", "judging", "completed", "failed", "cancelled", "interrupted"] as const;
export type SweepState = (typeof SWEEP_STATES)[number];

export const SweepStatusSchema = z.object({
  ...JOB_HEADER,
  state: z.enum(SWEEP_STATES),
  spec: SweepSpecSchema,
  /** Seconds the sweep has run, over all its sessions (the time budget counts these). */
  elapsed_s: z.number().min(0),
  /** Seconds left, estimated from the seconds per step so far and the steps still planned; null until a trial has trained. */
  eta_s: z.number().min(0).nullable().default(null),
  trials: z.array(TrialSchema),
  /** How many trials train at once and why, decided each time the sweep starts or resumes (null before). */
  side_by_side: z
    .object({
      slots: z.number().int().min(1),
      limit: z.enum(["cap", "memory", "cores", "trainings", "devices", "unplanned"]),
      per_trial_bytes: z.number().nullable(),
      free_bytes: z.number(),
      /** CPU threads of each trial when they share a CPU (null: as the config says). */
      threads: z.number().int().nullable(),
      text: z.string(),
    })
    .nullable()
    .default(null),
  /** The judge's pick among the completed trials: the compare report's ranking, or why there is none. */
  selection: z
    .object({
      best_run: z.string().nullable(),
      best_trial: z.number().int().nullable(),
      ranking: z.array(z.object({ label: z.string(), run_id: z.string().nullable(), strength: z.number(), rank: z.number() })),
      /** Win rates in percent (0–100), as in evaluation reports. */
      matches: z.array(z.object({ model: z.string(), baseline: z.string(), win_rate: z.number(), lc_win_rate: z.number(), lc_low: z.number(), lc_high: z.number(), n: z.number() })),
      note: z.string().nullable(),
    })
    .nullable(),
  error: z.object({ code: z.string(), message: z.string(), hint: z.string() }).nullable(),
});
export type SweepStatus = z.infer<typeof SweepStatusSchema>;

/** The spec's fields as a caller's overrides (the command's flags, the app's sweep page): each optional and without its default, so the config's sweep block or the default fills what is not given. */
export const SweepOverridesSchema = z.strictObject(
  Object.fromEntries(Object.entries(SweepSpecSchema.shape).map(([key, field]) => [key, field.unwrap().optional()])),
) as unknown as z.ZodType<Partial<SweepSpec>>;
