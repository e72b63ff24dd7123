/**
 * Self-bootstrapped rounds (issue #18, ALMA's loop): the model writes training data, trains on it,
 * and the judge says whether the new round beats the previous one; the loop stops when it does not.
 * The spec comes from a config file's `rounds:` block and the command's flags; the status is the
 * loop's whole state on disk (rounds/<id>/rounds.json), so a killed loop resumes where it was.
 * Free of Node imports so the renderer can share the shapes.
 */
import { z } from "zod";
import { JOB_HEADER } from "../util/job-header";

/** What the stop rule reads of a round's match against the previous round: its LC win rate, or the low end of its 95% CI (stricter). */
export const STOP_METRICS = ["lc_win_rate", "lc_ci_low"] as const;
export type StopMetric = (typeof STOP_METRICS)[number];

/**
 * DPO after each round's SFT (ALMA's optional preference step): the round's synthesis already judged
 * every prompt's answers (rounds.synth.responses of 2 or more), so the best against the worst of
 * each prompt is a preference pair at no new cost; a DPO run chained from the round's SFT run trains
 * on them, and it is the round's model from then on (judged, and writing the next round's data).
 */
export const RoundsDpoSchema = z.strictObject({
  min_margin: z.number().min(0).max(1).default(0.1).describe("Drop a pair whose best and worst answers' judge scores (0 to 1) differ by less than this."),
  preference: z.record(z.string(), z.unknown()).default({}).describe("The DPO run's preference settings (beta, label_smoothing, precompute_reference), as a config's preference block."),
  training: z.record(z.string(), z.unknown()).default({}).describe("Over the config's training settings, for the DPO run only (e.g. learning_rate: 5.0e-6, max_steps: 50)."),
});
export type RoundsDpo = z.output<typeof RoundsDpoSchema>;

export const RoundsSpecSchema = z.strictObject({
  rounds: z.number().int().min(1).max(100).default(3).describe("Rounds at most: each synthesizes data with the current model, trains on it from the previous round, and is judged."),
  synth: z
    .record(z.string(), z.unknown())
    .default({})
    .describe(
      "The synthesis options of every round (those of `whetstone synth`, in snake_case or camelCase: method, n, seed, seeds, k, filters, max_new_tokens, …); method and n are needed. The model, the output file and the evaluation prompts to decontaminate against are set by the round.",
    ),
  prompts: z.string().min(1).nullable().default(null).describe("The prompts every round is judged on (a prompt file or dataset); null: the config's data.validation file. Never the synthesized data."),
  judge: z.string().min(1).nullable().default(null).describe("A local ONNX judge folder or an OpenAI-compatible URL; null: the default judge."),
  limit: z.number().int().positive().max(100_000).default(200).describe("At most this many evaluation prompts."),
  max_new_tokens: z.number().int().min(1).max(32_768).default(256).describe("The longest answer each model gives the judge, in tokens."),
  stop_metric: z.enum(STOP_METRICS).default("lc_win_rate").describe("What of a round's match against the previous round (round 1: the base) the stop rule reads: the LC win rate, or the low end of its 95% CI."),
  stop_threshold: z.number().min(0).max(100).default(50).describe("Go on only while that figure is above this (percent); 50: stop when a round no longer beats the one before."),
  dpo: z
    .preprocess((v) => (v === true ? {} : v === false || v === undefined ? null : v), RoundsDpoSchema.nullable())
    .describe("After each round's SFT run, a DPO run on the judge's best-vs-worst answers of the round's prompts, chained from it ({} or true: the defaults); null: SFT only."),
});
export type RoundsSpec = z.output<typeof RoundsSpecSchema>;

/**
 * The spec's fields as a caller's overrides (the command's flags): each optional. Their values are
 * checked with the block's (engine/rounds/plan.ts), so `--rounds 0` and `rounds: 0` get the same
 * ROUNDS_INVALID error naming the field.
 */
export const RoundsOverridesSchema = z.strictObject(
  Object.fromEntries(Object.keys(RoundsSpecSchema.shape).map((key) => [key, z.unknown().optional()])),
) as unknown as z.ZodType<Partial<RoundsSpec>>;

/** A judged match, in percent as in evaluation reports. */
export const MatchSchema = z.object({
  against: z.string(),
  n: z.number(),
  win_rate: z.number(),
  lc_win_rate: z.number(),
  lc_low: z.number(),
  lc_high: z.number(),
});
export type Match = z.infer<typeof MatchSchema>;

/** A round's phases in order (pairing and dpo only with the dpo option); done: judged (it may still be the round the loop stopped at). */
export const ROUND_STATES = ["pending", "synthesizing", "training", "pairing", "dpo", "evaluating", "done", "failed"] as const;
export type RoundState = (typeof ROUND_STATES)[number];

export const RoundSchema = z.object({
  index: z.number().int().min(1),
  state: z.enum(ROUND_STATES),
  /** The model that wrote the round's data: the config's model or the run the loop started from (round 1), or the previous round's model. */
  synth_from: z.string().nullable(),
  /** The synthesized file (rounds/<id>/round-<r>.jsonl), its rows, and whether synthesis reached n. */
  data: z.string(),
  rows: z.number().int().nullable(),
  synth_complete: z.boolean().nullable(),
  /** Candidates the synthesis considered for the file (rows: those kept after the filters, duplicates and decontamination). */
  candidates: z.number().int().nullable().default(null),
  run_id: z.string().nullable(),
  /** The run it was trained from (init_from): the previous round's model (its DPO run, with the dpo option), or for round 1 the run the loop started from. */
  parent_run: z.string().nullable(),
  /** With the dpo option: the pairs file (rounds/<id>/round-<r>-pairs.jsonl), its rows, the prompts left out (too close to call, or fewer than two judged answers), and the DPO run chained from run_id. */
  pairs: z.string().nullable().default(null),
  pair_rows: z.number().int().nullable().default(null),
  pairs_dropped: z.number().int().nullable().default(null),
  dpo_run_id: z.string().nullable().default(null),
  vs_base: MatchSchema.nullable(),
  vs_previous: MatchSchema.nullable(),
  reason: z.string().nullable(),
});
export type Round = z.output<typeof RoundSchema>;

/** The round's model: what it is judged as and what writes the next round's data (its DPO run, else its SFT run). */
export const roundModel = (r: Pick<Round, "run_id" | "dpo_run_id">): string | null => r.dpo_run_id ?? r.run_id;

export const ROUNDS_STATES = ["running", "completed", "failed", "cancelled", "interrupted"] as const;
export type RoundsState = (typeof ROUNDS_STATES)[number];

export const RoundsStatusSchema = z.object({
  ...JOB_HEADER,
  state: z.enum(ROUNDS_STATES),
  spec: RoundsSpecSchema,
  /** The evaluation prompt file, resolved (the spec's prompts, else data.validation). */
  prompts: z.string(),
  /** The config's model folder: round 1 synthesizes with it, and every round is judged against it. */
  base_model: z.string(),
  /** The finished run the loop starts from (the config's init_from): round 1 writes its data with it, trains from it and is judged against it as well as the base; null: it starts from base_model. */
  start_run: z.string().nullable().default(null),
  rounds: z.array(RoundSchema),
  /** Why the loop stopped (the rule's words), or null while it goes on. */
  stopped: z.string().nullable(),
  /** The last round that beat its predecessor (the one to use), or null. */
  best_round: z.number().int().nullable(),
  elapsed_s: z.number().min(0),
  error: z.object({ code: z.string(), message: z.string(), hint: z.string() }).nullable(),
});
export type RoundsStatus = z.infer<typeof RoundsStatusSchema>;
