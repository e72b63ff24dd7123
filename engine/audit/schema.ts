/** The audit's API shapes, free of Node imports so the renderer can share them. */
import * as z from "zod";

export const AuditOptionsSchema = z.strictObject({
  samples: z.number().int().positive().max(100_000).default(200).describe("Training conversations to probe."),
  prefixTokens: z.number().int().min(0).max(4096).default(32).describe("Answer tokens given to the model after the prompt."),
  continuationTokens: z.number().int().positive().max(4096).default(64).describe("Answer tokens the model must reproduce."),
  seed: z.number().int().min(0).default(0).describe("Which samples are drawn."),
  embeddingModel: z.string().min(1).nullable().default(null).describe("Sentence-embedding model folder; null picks the default."),
});
export type AuditOptions = z.output<typeof AuditOptionsSchema>;

const Scores = z.looseObject({
  exact_match_rate: z.number(),
  lcs_ratio_mean: z.number(),
  semantic_similarity_mean: z.number().nullable(),
});
export const AuditReportSchema = z.looseObject({ base: Scores, tuned: Scores });
export type AuditReport = z.infer<typeof AuditReportSchema> & Record<string, unknown>;
