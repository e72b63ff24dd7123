/**
 * The dataset report's shape, defined once as zod schemas: the engine API's contract uses them
 * (inspectDataset, previewDataset), and the TypeScript types are derived from them.
 */
import * as z from "zod";
import { FORMATS, METHODS, SCHEMAS } from "./types";

const Severity = z.enum(["error", "warning"]);

export const DataIssueSchema = z.object({
  code: z.string(),
  severity: Severity,
  message: z.string(),
  hint: z.string(),
  file: z.string(),
  line: z.number().int().optional(),
  row: z.number().int().optional(),
  element: z.number().int().optional(),
  column: z.number().int().optional(),
  byte: z.number().int().optional(),
  field: z.string().optional(),
});

export const IssueSummarySchema = z.object({ code: z.string(), severity: Severity, count: z.number().int(), rows: z.number().int(), message: z.string(), hint: z.string(), first: DataIssueSchema, examples: z.array(DataIssueSchema) });

const Bucket = z.object({ le: z.number().nullable(), count: z.number().int() });

export const TokenStatsSchema = z.object({
  tokenizer: z.string(),
  template_source: z.string().nullable(),
  max_length: z.number().int(),
  overlong: z.enum(["drop", "truncate", "error"]),
  samples: z.number().int(),
  /** One per conversation, two per preference pair: the length figures and histogram count these. */
  sequences: z.number().int(),
  length: z.object({ min: z.number(), mean: z.number(), p50: z.number(), p95: z.number(), max: z.number() }),
  histogram: z.array(Bucket),
  over_max_length: z.number().int(),
  truncated: z.number().int(),
  dropped_too_long: z.number().int(),
  dropped_no_trained_tokens: z.number().int(),
  kept: z.number().int(),
  tokens_per_epoch: z.number().int(),
  trained_tokens_per_epoch: z.number().int(),
  pair_sides: z.object({ chosen_trained_tokens: z.number().int(), rejected_trained_tokens: z.number().int() }).nullable(),
  estimated_seconds_per_epoch: z.number().nullable(),
});

export const DatasetStatsSchema = z.object({
  rows: z.number().int(),
  samples: z.number().int(),
  invalid_rows: z.number().int(),
  duplicates: z.number().int(),
  near_duplicates: z.number().int(),
  by_kind: z.object({ chat: z.number().int(), text: z.number().int(), preference: z.number().int(), unpaired: z.number().int(), prompt: z.number().int() }),
  turns: z.object({ min: z.number(), mean: z.number(), max: z.number(), histogram: z.array(Bucket) }).nullable(),
  roles: z.object({ system: z.number().int(), user: z.number().int(), assistant: z.number().int(), tool: z.number().int() }),
  characters: z.number().int(),
  tokens: TokenStatsSchema.nullable(),
});

export const PreviewHandleSchema = z.object({ index: z.number().int(), file: z.string(), line: z.number().int().optional(), row: z.number().int() });

export const DatasetReportSchema = z.object({
  path: z.string(),
  format: z.union([z.enum(FORMATS), z.literal("mixed")]).nullable(),
  schema: z.union([z.enum(SCHEMAS), z.literal("mixed")]).nullable(),
  kind: z.enum(["chat", "text", "preference", "unpaired", "prompt"]).nullable(),
  /** The methods this data can train (sft, dpo, simpo, orpo, kto), whatever method was asked for. */
  methods: z.array(z.enum(METHODS)),
  files: z.array(
    z.object({
      path: z.string(),
      format: z.enum(FORMATS).nullable(),
      bytes: z.number().int(),
      sha256: z.string(),
      rows: z.number().int(),
      schema: z.enum(SCHEMAS).nullable(),
      schemas: z.record(z.string(), z.number().int()),
      note: z.string().optional(),
    }),
  ),
  sha256: z.string(),
  bytes: z.number().int(),
  stats: DatasetStatsSchema,
  errors: z.number().int(),
  warnings: z.number().int(),
  /** Training can start: no errors, or only row errors with skip_invalid on and samples left. */
  trainable: z.boolean(),
  skip_invalid: z.boolean(),
  verdict: z.string(),
  summary: z.array(IssueSummarySchema),
  issues: z.array(DataIssueSchema),
  preview: z.object({ samples: z.number().int(), handles: z.array(PreviewHandleSchema) }),
  notes: z.array(z.string()),
  elapsed_s: z.number(),
});
export type DatasetReport = z.infer<typeof DatasetReportSchema>;

const GoldfishInput = z.strictObject({ k: z.number().int().min(2).max(1024).default(4), h: z.number().int().min(1).max(32).default(13), variant: z.enum(["hashed", "static", "random"]).default("hashed") });

/** Options of inspectDataset / previewDataset, as the API takes them. */
export const InspectOptionsSchema = z.strictObject({
  format: z.enum(FORMATS).optional(),
  schema: z.enum(SCHEMAS).optional(),
  columns: z.record(z.string(), z.string()).optional(),
  roles: z.record(z.string(), z.string()).optional(),
  model: z.string().min(1).optional().describe("Model folder whose tokenizer and chat template are used for token statistics."),
  maxLength: z.number().int().min(16).optional(),
  overlong: z.enum(["drop", "truncate", "error"]).optional(),
  method: z.enum(METHODS).optional().describe("The method the data must suit; without it the report lists the methods the data can train."),
  completionTokens: z.number().int().min(1).optional().describe("grpo: the completion budget a prompt must leave room for within maxLength (default: grpo's)."),
  promptFields: z.array(z.string().min(1)).optional().describe("grpo: fields every row must have (those the rewards compare completions with)."),
  skipInvalid: z.boolean().optional(),
  tokensPerSecond: z.number().positive().optional().describe("Training throughput, for the time estimate."),
  tokenizeLimit: z.number().int().positive().optional().describe("Tokenize at most this many samples (faster stats on huge files)."),
});
export type InspectOptions = z.infer<typeof InspectOptionsSchema>;

export const PreviewOptionsSchema = InspectOptionsSchema.omit({ skipInvalid: true, tokensPerSecond: true, tokenizeLimit: true, method: true }).extend({
  index: z.number().int().min(0),
  model: z.string().min(1),
  goldfish: GoldfishInput.nullable().optional(),
});
export type PreviewOptions = z.input<typeof PreviewOptionsSchema>;

export const PreviewTokenSchema = z.object({ id: z.number().int(), text: z.string(), trained: z.boolean(), dropped: z.boolean() });

export const SamplePreviewSchema = z.object({
  index: z.number().int(),
  file: z.string(),
  line: z.number().int().optional(),
  row: z.number().int(),
  element: z.number().int().optional(),
  schema: z.enum(SCHEMAS).nullable(),
  sample: z.unknown().nullable(),
  issues: z.array(DataIssueSchema),
  template_source: z.string().nullable(),
  tokens: z.array(PreviewTokenSchema),
  length: z.number().int(),
  truncated: z.boolean(),
  /** Why training would leave the sample out, or null. */
  dropped: z.enum(["too_long", "no_trained_tokens"]).nullable(),
  trained_tokens: z.number().int(),
  goldfish: z.object({ k: z.number(), h: z.number(), variant: z.string(), dropped_tokens: z.number().int().nullable(), note: z.string().optional() }).nullable(),
});
export type SamplePreview = z.infer<typeof SamplePreviewSchema>;
