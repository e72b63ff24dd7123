/** Data synthesis API shapes (issue #18), free of Node imports so the renderer can share them. */
import * as z from "zod";

export const SYNTH_METHODS = ["magpie", "fewshot", "glan"] as const;
export type SynthMethod = (typeof SYNTH_METHODS)[number];
/** Why a candidate is dropped before the duplicate and contamination checks (engine/synth/filters.ts). */
export const SYNTH_FILTERS = ["empty", "truncated", "repeated", "refusal"] as const;
export type SynthFilter = (typeof SYNTH_FILTERS)[number];
/** What a synthesis with several responses per prompt writes: the best as an SFT row, or best vs worst as a preference pair. */
export const SYNTH_SELECTIONS = ["sft", "pairs"] as const;
export type SynthSelection = (typeof SYNTH_SELECTIONS)[number];
/** glan: keep a subject's listed topics as its syllabus (the model drafts one for a subject without topics), or draft every subject's. */
export const SYNTH_SYLLABI = ["keep", "draft"] as const;

export const SynthOptionsSchema = z.strictObject({
  method: z.enum(SYNTH_METHODS).describe("magpie: instructions from the model's pre-query template; fewshot: new prompts after k of your own (ALMA); glan: instructions per topic of a taxonomy (GLAN)."),
  /** Checked by the engine (not the schema) so that 0 or -3 gets an error naming the option. */
  n: z.number().int().describe("Rows the output file should hold; a rerun continues up to n."),
  out: z.string().min(1).describe("JSONL file rows are appended to (created when missing; a rerun resumes it)."),
  model: z.string().min(1).nullable().default(null).describe("A model folder; or give `run`."),
  run: z.string().min(1).nullable().default(null).describe("A finished run: its trained weights on its base."),
  seed: z.number().int().min(0).default(0).describe("Candidate i samples with seed + i: the same seed writes the same file."),
  seeds: z.string().min(1).nullable().default(null).describe("fewshot: a dataset file of your prompts (any format `data check` reads)."),
  k: z.number().int().default(3).describe("fewshot: examples shown before each new prompt."),
  taxonomy: z.string().min(1).nullable().default(null).describe("glan: a YAML file of disciplines → subjects → topics; null: the bundled one (assets/synth/glan-taxonomy.yaml)."),
  syllabus: z.enum(SYNTH_SYLLABI).default("keep").describe("glan: keep: a subject that lists topics keeps them as its sessions, the model drafts a syllabus (sessions and key concepts) for each subject without; draft: the model drafts every subject's syllabus, covering the topics listed."),
  syllabusTokens: z.number().int().positive().max(4096).default(1024).describe("glan: longest drafted syllabus in tokens."),
  temperatures: z.array(z.number().min(0).max(5)).min(1).max(16).nullable().default(null).describe("Prompt sampling temperatures, candidate i uses the (i mod count)-th; null: magpie 1.0, fewshot 0.7, 1.0, 1.3, glan 1.0."),
  promptTokens: z.number().int().positive().max(4096).default(128).describe("Longest new prompt in tokens (longer ones are truncated)."),
  maxNewTokens: z.number().int().positive().max(32_768).default(512).describe("Longest answer in tokens."),
  responseTemperature: z.number().min(0).max(5).default(0.7).describe("Answer sampling temperature (0: greedy)."),
  topP: z.number().gt(0).max(1).default(1).describe("Nucleus mass for prompts and answers."),
  filters: z.array(z.enum(SYNTH_FILTERS)).default([...SYNTH_FILTERS]).describe("Which filters drop candidates."),
  evalPrompts: z.string().min(1).nullable().default(null).describe("Decontaminate against this prompt file (.txt, JSONL, any dataset)."),
  evalRun: z.string().min(1).nullable().default(null).describe("Decontaminate against this run's held-out split."),
  ngram: z.number().int().min(3).max(50).default(8).describe("Decontamination: a shared run of this many words is an overlap."),
  similarity: z.number().gt(0).max(1).default(0.8).describe("Near-duplicate: estimated Jaccard similarity of word 3-grams (MinHash) at or above this."),
  maxCandidates: z.number().int().positive().nullable().default(null).describe("Candidates tried before giving up; null: 5 n + 20."),
  // Response selection (engine/synth/select.ts): several answers per prompt, the local judge picks.
  responses: z.number().int().nullable().default(null).describe("Answers per prompt; 2 or more: the judge picks (response j comes from source j mod sources); null: one per source."),
  responseTemperatures: z.array(z.number().min(0).max(5)).min(1).max(16).nullable().default(null).describe("Answer temperatures, each a response source with each model; null: responseTemperature alone."),
  responderModels: z.array(z.string().min(1)).max(8).default([]).describe("Other model folders that also answer each prompt (response sources)."),
  responderRuns: z.array(z.string().min(1)).max(8).default([]).describe("Finished runs that also answer each prompt (their trained weights on their base)."),
  select: z.enum(SYNTH_SELECTIONS).default("sft").describe("With 2+ responses: sft writes the best answer as the assistant turn; pairs writes prompt/chosen/rejected (best vs worst) for dpo."),
  minMargin: z.number().min(0).max(1).default(0.1).describe("pairs: drop a pair whose best and worst judge scores differ by less than this."),
  judge: z.string().min(1).nullable().default(null).describe("The judge: a local ONNX folder, an OpenAI-compatible URL, or null for the default judge."),
  judgeModel: z.string().min(1).nullable().default(null).describe("The model to ask an OpenAI-compatible judge server for."),
});
export type SynthOptions = z.output<typeof SynthOptionsSchema>;

const Counts = <K extends readonly [string, ...string[]]>(keys: K) => z.object(Object.fromEntries(keys.map((k) => [k, z.number()])) as Record<K[number], z.ZodNumber>);

export const SynthReportSchema = z.object({
  out: z.string(),
  method: z.enum(SYNTH_METHODS),
  model: z.string(),
  run: z.string().nullable(),
  seed: z.number(),
  requested: z.number(),
  /** Rows in the file now. */
  rows: z.number(),
  /** Rows the file held before this call (a resume). */
  resumed: z.number(),
  written: z.number(),
  /** Candidates tried by this call, and the index the next call starts at. */
  candidates: z.number(),
  next_index: z.number(),
  filtered: Counts(SYNTH_FILTERS),
  duplicates: z.object({ seeds: z.number(), rows: z.number() }),
  decontaminated: z.number(),
  eval_prompts: z.number(),
  /** False when maxCandidates ran out before n rows. */
  complete: z.boolean(),
  /** A half-written last line (a kill during a write) was cut off before resuming. */
  torn_line_removed: z.boolean(),
  elapsed_s: z.number(),
  /** glan: the syllabi the instructions were drawn from (syllabus.ts). */
  syllabus: z
    .object({
      /** The drafted syllabi, beside the output (null: every subject kept its listed topics). */
      file: z.string().nullable(),
      subjects: z.number(),
      /** Subjects whose listed topics are their sessions. */
      listed: z.number(),
      /** Subjects drafted by this call, and read back from the syllabus file (an earlier call's, or the user's edit). */
      drafted: z.number(),
      reused: z.number(),
      /** Drafted subjects where no session could be read: each stands as one session on the subject itself. */
      unreadable: z.number(),
      sessions: z.number(),
      concepts: z.number(),
      /** Lines of this call's drafts read as neither a session nor a key concept. */
      unread_lines: z.number(),
    })
    .optional(),
  /** With 2+ responses per prompt: how the judge chose. */
  selection: z
    .object({
      select: z.enum(SYNTH_SELECTIONS),
      responses: z.number(),
      sources: z.array(z.object({ source: z.string(), temperature: z.number() })),
      judge: z.string(),
      /** Candidates whose responses were judged, and the pairs judged (both orders each). */
      judged: z.number(),
      pairs_judged: z.number(),
      /** Candidates left with fewer than two usable responses (counted in `filtered` by the first bad one's reason too). */
      too_few_responses: z.number(),
      /** pairs: dropped because best and worst scored within minMargin. */
      below_margin: z.number(),
      min_margin: z.number(),
    })
    .optional(),
});
export type SynthReport = z.infer<typeof SynthReportSchema>;
