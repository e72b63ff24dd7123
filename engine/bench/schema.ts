/** The benchmarks' API shapes and presets, free of Node imports so the renderer can share them. */
import * as z from "zod";

/** The wizard's presets: lm-eval 0.4.13's own task names (its registry spells them so). */
export const BENCH_PRESETS = [
  { task: "mmlu", label: "MMLU", about: "57 subjects of multiple-choice knowledge questions (5-shot is usual; the task's default is 0)" },
  { task: "gsm8k", label: "GSM8K", about: "grade-school arithmetic word problems, answers generated and matched exactly (5-shot)" },
  { task: "arc_challenge", label: "ARC", about: "the Challenge set of grade-school science questions, multiple choice" },
  { task: "hellaswag", label: "HellaSwag", about: "commonsense sentence endings, multiple choice" },
  { task: "ifeval", label: "IFEval", about: "verifiable instructions (“answer in under 100 words”), answers generated" },
] as const;

export const BenchOptionsSchema = z.strictObject({
  tasks: z.array(z.string().min(1).max(200)).min(1).max(50).describe("lm-eval task, group or tag names (mmlu, gsm8k, arc_challenge, hellaswag, ifeval, …)."),
  limit: z.number().int().positive().nullable().default(null).describe("At most this many documents per task (null: all). Scores on a sample are noisier: see the standard errors."),
  numFewshot: z.number().int().min(0).max(100).nullable().default(null).describe("Few-shot examples in each prompt (null: each task's default)."),
  chatTemplate: z.boolean().default(false).describe("Render each prompt with the model's chat template (lm-eval's apply_chat_template)."),
  batchSize: z.number().int().positive().max(4096).nullable().default(null).describe("Requests per forward pass (null: 8 on a CPU, the largest that fits on a GPU)."),
  taskDir: z.string().min(1).nullable().default(null).describe("A folder of your own lm-eval task YAML files, usable by name beside the standard ones."),
  against: z.enum(["base"]).default("base").describe("What the tuned model is compared with: its base model."),
});
export type BenchOptions = z.output<typeof BenchOptionsSchema>;

const score = z.number().nullable();

/** One task × metric × filter: both models' scores with standard errors, and tuned − base. */
export const BenchRowSchema = z.object({
  task: z.string(),
  alias: z.string(),
  /** false for a group's subtasks (MMLU's subjects): the group's row summarizes them. */
  top: z.boolean(),
  metric: z.string(),
  filter: z.string(),
  tuned: score,
  tuned_stderr: score,
  base: score,
  base_stderr: score,
  /** tuned − base, and its standard error sqrt(se_tuned² + se_base²) (the two runs are independent). */
  delta: score,
  delta_stderr: score,
  higher_is_better: z.boolean().nullable(),
  /** Documents scored. */
  n: z.number().nullable(),
});
export type BenchRow = z.infer<typeof BenchRowSchema>;

export const BenchReportSchema = z.looseObject({
  run_id: z.string(),
  created_at: z.string(),
  lm_eval_version: z.string(),
  tasks: z.array(z.string()),
  against: z.literal("base"),
  settings: z.record(z.string(), z.unknown()),
  rows: z.array(BenchRowSchema),
  seconds: z.number(),
});
export type BenchReport = z.infer<typeof BenchReportSchema>;

/** Better or worse than the base by the metric's direction, when the change exceeds twice its standard error; else "same" (within noise). */
export function changeLevel(row: Pick<BenchRow, "delta" | "delta_stderr" | "higher_is_better">): "better" | "worse" | "same" {
  if (row.delta === null || row.delta === 0 || row.higher_is_better === null) return "same";
  if (row.delta_stderr !== null && Math.abs(row.delta) <= 2 * row.delta_stderr) return "same";
  return row.delta > 0 === row.higher_is_better ? "better" : "worse";
}
