/** Evaluation API shapes, free of Node imports so the renderer can share them. */
import * as z from "zod";

const Generation = {
  maxNewTokens: z.number().int().positive().max(32_768).default(256).describe("Longest answer in tokens."),
  temperature: z.number().min(0).max(5).default(0).describe("0: greedy (reproducible); above 0: sampling."),
  topP: z.number().gt(0).max(1).default(1).describe("Nucleus sampling mass (sampling only)."),
  seed: z.number().int().min(0).default(0).describe("Prompt i samples with seed + i."),
};

const Judging = {
  prompts: z.string().min(1).nullable().default(null).describe("Prompt file (JSONL of {messages} or {prompt}, a dataset file, or .txt one prompt a line); null: the run's held-out split."),
  limit: z.number().int().positive().max(100_000).default(200).describe("At most this many prompts (the first ones)."),
  judge: z.string().min(1).nullable().default(null).describe("A local ONNX judge folder or an OpenAI-compatible URL; null: the default judge (downloaded once)."),
  judgeModel: z.string().min(1).nullable().default(null).describe("Model name to request from an OpenAI-compatible judge (default: the first the server lists)."),
  resamples: z.number().int().min(10).max(100_000).default(1000).describe("Bootstrap resamples for the confidence intervals."),
  ...Generation,
};

export const EvalOptionsSchema = z.strictObject({
  against: z.string().min(1).default("base").describe("`base` or another run to compare with."),
  ...Judging,
});
export type EvalOptions = z.output<typeof EvalOptionsSchema>;

export const CompareOptionsSchema = z.strictObject({ ...Judging });
export type CompareOptions = z.output<typeof CompareOptionsSchema>;

export const GenerateOptionsSchema = z.strictObject({
  /** The conversation so far (ending with a user turn), or several prompts. */
  prompts: z.array(z.array(z.strictObject({ role: z.string().min(1), content: z.string() })).min(1)).min(1).max(10_000),
  sides: z.array(z.enum(["base", "tuned"])).min(1).default(["tuned"]),
  stream: z.boolean().default(false).describe("Publish `token` events as the answer grows."),
  ...Generation,
});
export type GenerateOptions = z.output<typeof GenerateOptionsSchema>;

const Answer = z.object({ text: z.string(), tokens: z.number(), finish: z.enum(["stop", "length"]) });
export const GenerateResultSchema = z.looseObject({ settings: z.record(z.string(), z.unknown()), outputs: z.object({ base: z.array(Answer).optional(), tuned: z.array(Answer).optional() }) });
export type GenerateResult = z.infer<typeof GenerateResultSchema>;

const Interval = z.object({ low: z.number(), high: z.number() });
/** engine/judge/trust.ts: how far the judge's verdicts can be trusted (absent in reports written before it). */
export const JudgeTrustSchema = z.object({ n: z.number(), position_consistency: z.number(), tie_share: z.number(), mean_confidence: z.number(), warning: z.string().nullable() });
export const WinRateSchema = z.looseObject({
  n: z.number(),
  win_rate: z.number(),
  win_rate_ci: Interval,
  lc_win_rate: z.number(),
  lc_win_rate_ci: Interval,
  wins: z.number(),
  losses: z.number(),
  ties: z.number(),
  avg_length_model: z.number(),
  avg_length_baseline: z.number(),
  judge_trust: JudgeTrustSchema.optional(),
});

export const EvalReportSchema = z.looseObject({
  run_id: z.string(),
  created_at: z.string(),
  model: z.looseObject({ label: z.string() }),
  baseline: z.looseObject({ label: z.string() }),
  summary: WinRateSchema,
  per_prompt: z.array(z.looseObject({ index: z.number(), verdict: z.enum(["win", "loss", "tie"]), preference: z.number() })),
});
export type EvalReport = z.infer<typeof EvalReportSchema>;

export const CompareReportSchema = z.looseObject({
  created_at: z.string(),
  runs: z.array(z.string()),
  ranking: z.array(z.looseObject({ label: z.string(), run_id: z.string().nullable(), strength: z.number(), rank: z.number() })),
  best: z.string().nullable(),
  matches: z.array(z.looseObject({ model: z.string(), baseline: z.string(), summary: WinRateSchema })),
});
export type CompareReport = z.infer<typeof CompareReportSchema>;
