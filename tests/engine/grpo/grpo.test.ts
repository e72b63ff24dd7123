/**
 * grpo through the engine: its settings and rewards resolve (and are refused where they make no
 * sense), prompt rows in the shapes public datasets use (TRL's prompt-only rows, GSM8K's
 * question/answer, MATH's problem/solution under a column mapping, chat conversations) become the
 * flat rows the worker reads, a row without a field a reward reads is refused with its line, and
 * the engine's prompt lengths and drops are the worker's own (its data/prompts.py run on the snapshot).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { validateConfig } from "../../../engine/config/load";
import { inspectDataset } from "../../../engine/data/inspect";
import { writeSnapshot } from "../../../engine/data/snapshot";
import { PROJECT_ROOT } from "../../../engine/paths";
import { WhetstoneError } from "../../../engine/util/errors";
import { ensureTinyModel, TINY_DATA } from "../../helpers/fixture";
import { workerPythonOutput } from "../../helpers/python";

const TINY_GRPO = join(PROJECT_ROOT, "examples", "data", "tiny-grpo.jsonl");
const dir = mkdtempSync(join(tmpdir(), "whetstone-grpo-"));
const file = (name: string, rows: unknown[]) => {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
};
const snapshotRows = (run: string) => readFileSync(join(run, "data", "train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
const errorOf = async (p: Promise<unknown>) => p.then(() => null, (e: WhetstoneError) => e);
const base = { model: { path: "/models/m" }, data: { train: TINY_GRPO }, method: "grpo", rewards: [{ type: "exact_match", field: "letter" }] };
const resolve = (over: Record<string, unknown> = {}) => validateConfig({ ...base, ...over }, { checkPaths: false, baseDir: dir });

// Rows as the public datasets write them (the shapes, not their contents).
const GSM8K = { question: "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", answer: "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72" };
const MATH = { problem: "What is $\\frac{1}{2} + \\frac{1}{3}$?", level: "Level 1", type: "Prealgebra", solution: "We have $\\frac{1}{2} + \\frac{1}{3} = \\boxed{\\frac{5}{6}}$." };

let model: string;
beforeAll(() => {
  model = ensureTinyModel();
});

describe("grpo settings and rewards", () => {
  it("fills in DeepSeekMath's defaults, the reward fields' defaults, and a symmetric clip", () => {
    const c = resolve();
    expect(c.preference).toMatchObject({ beta: 0.04, num_generations: 8, max_completion_tokens: 256, temperature: 1, top_p: 1, epsilon: 0.2, epsilon_high: 0.2, num_iterations: 1, loss_type: "grpo", scale_rewards: "group" });
    expect(c.preference).toMatchObject({ label_smoothing: null, lambda: null, desirable_weight: null });
    expect(c.rewards).toEqual([{ type: "exact_match", field: "letter", case_sensitive: false, weight: 1 }]);
    expect(resolve({ preference: { epsilon: 0.1 } }).preference).toMatchObject({ epsilon: 0.1, epsilon_high: 0.1 });
    expect(resolve({ preference: { epsilon: 0.2, epsilon_high: 0.28, beta: 0, loss_type: "dr_grpo", scale_rewards: "none" } }).preference).toMatchObject({ epsilon_high: 0.28, beta: 0, loss_type: "dr_grpo", scale_rewards: "none" });
    // Another method's config is as it was: no rewards key, grpo's settings null.
    const { rewards: _, ...withoutRewards } = base;
    const dpo = validateConfig({ ...withoutRewards, method: "dpo" }, { checkPaths: false });
    expect("rewards" in dpo).toBe(false);
    expect(dpo.preference).toMatchObject({ beta: 0.1, num_generations: null, loss_type: null });
  });

  it("refuses what makes no sense, naming the field and what to do", () => {
    expect(() => resolve({ rewards: undefined })).toThrow(/method grpo needs rewards/);
    expect(() => validateConfig({ ...base, method: "sft" }, { checkPaths: false })).toThrow(/rewards are set but method is sft/);
    expect(() => validateConfig({ ...base, method: "dpo", rewards: undefined, preference: { beta: 0 } }, { checkPaths: false })).toThrow(/preference.beta must be above 0 for dpo/);
    expect(() => resolve({ preference: { lambda: 0.1 } })).toThrow(/preference.lambda is a setting of orpo, not of method grpo/);
    expect(() => resolve({ preference: { num_generations: 1 } })).toThrow(/num_generations/);
    expect(() => resolve({ preference: { loss_type: "dapo" } })).toThrow(/loss_type/);
    expect(() => resolve({ data: { train: TINY_GRPO, max_length: 256 } })).toThrow(/data.max_length 256 leaves no room for a prompt beside 256 completion tokens/);
    expect(() => resolve({ rewards: [{ type: "exact_match" }] })).toThrow(/rewards.0.field|field/);
    expect(() => resolve({ training: { goldfish: {} } })).toThrow(/goldfish applies to an SFT loss term; grpo has none/);
  });

  it("runs a python reward file only with consent, and finds it next to the config", () => {
    writeFileSync(join(dir, "reward.py"), "def reward(prompts, completions, **fields):\n    return [1.0 for _ in completions]\n");
    const python = { type: "python", file: "reward.py" };
    expect(() => resolve({ rewards: [python] })).toThrow(/rewards\[0\] runs the Python file .*reward.py: it executes with your rights/);
    const c = resolve({ rewards: [{ ...python, trust_code: true, weight: 0.5 }] });
    expect(c.rewards).toEqual([{ type: "python", file: join(dir, "reward.py"), function: "reward", trust_code: true, weight: 0.5 }]);
    const missing = (() => {
      try {
        validateConfig({ ...base, model: { path: model }, rewards: [{ type: "python", file: "gone.py", trust_code: true }] }, { baseDir: dir });
      } catch (e) {
        return e as WhetstoneError;
      }
    })();
    expect(missing).toMatchObject({ code: "REWARD_FILE_NOT_FOUND", message: expect.stringContaining(join(dir, "gone.py")) });
  });
});

describe("grpo data", () => {
  it("reads TRL's prompt-only rows (text and conversational) as prompts that only grpo trains", async () => {
    const path = file("trl.jsonl", [{ prompt: "The sky is" }, { prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "What color is the sky?" }], solution: "blue" }]);
    const r = await inspectDataset(path);
    expect(r).toMatchObject({ schema: "prompt", kind: "prompt", methods: ["grpo"], trainable: true });
    const sft = await inspectDataset(path, { method: "sft" });
    expect(sft.trainable).toBe(false);
    expect(sft.summary[0]).toMatchObject({ code: "DATA_METHOD_MISMATCH", message: expect.stringContaining("prompts without answers"), hint: expect.stringContaining("This data trains with grpo") });
    const run = mkdtempSync(join(tmpdir(), "grpo-run-"));
    await writeSnapshot(path, run, { method: "grpo" });
    expect(snapshotRows(run)).toEqual([
      { prompt: [{ role: "user", content: "The sky is" }] },
      { prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "What color is the sky?" }], solution: "blue" },
    ]);
  });

  it("keeps GSM8K's answer under its own name for the rewards, and the answer turn as the reference", async () => {
    const path = file("gsm8k.jsonl", [GSM8K]);
    expect(await inspectDataset(path)).toMatchObject({ schema: "prompt_completion", kind: "chat", methods: ["sft", "grpo"] });
    const run = mkdtempSync(join(tmpdir(), "grpo-run-"));
    await writeSnapshot(path, run, { method: "grpo", promptFields: ["answer"] });
    expect(snapshotRows(run)).toEqual([{ prompt: [{ role: "user", content: GSM8K.question }], answer: GSM8K.answer, reference: GSM8K.answer }]);
  });

  it("maps MATH's problem onto the prompt and keeps its other columns by their names", async () => {
    const path = file("math.jsonl", [MATH]);
    expect((await inspectDataset(path)).summary[0]).toMatchObject({ code: "DATA_UNKNOWN_SCHEMA" });
    const run = mkdtempSync(join(tmpdir(), "grpo-run-"));
    await writeSnapshot(path, run, { method: "grpo", columns: { problem: "prompt" }, promptFields: ["solution"] });
    expect(snapshotRows(run)).toEqual([{ prompt: [{ role: "user", content: MATH.problem }], level: "Level 1", type: "Prealgebra", solution: MATH.solution }]);
  });

  it("trains on conversations: the turns before the last answer, which becomes the reference", async () => {
    const run = mkdtempSync(join(tmpdir(), "grpo-run-"));
    await writeSnapshot(TINY_DATA, run, { method: "grpo" });
    const source = readFileSync(TINY_DATA, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
    const out = snapshotRows(run);
    expect(out.length).toBe(source.length);
    expect(out[0]).toEqual({ prompt: source[0]!.messages.slice(0, -1), reference: source[0]!.messages.at(-1)!.content });
    expect(out.every((r) => (r.prompt as { role: string }[]).at(-1)!.role === "user")).toBe(true);
  });

  it("refuses a row without a field a reward reads, and a prompt that ends with an answer, with their lines", async () => {
    const path = file("gaps.jsonl", [
      { prompt: "2 + 2?", answer: "4" },
      { prompt: "3 + 3?" },
      { prompt: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }, { role: "assistant", content: "Again" }], answer: "x" },
    ]);
    const r = await inspectDataset(path, { method: "grpo", promptFields: ["answer"] });
    expect(r.trainable).toBe(false);
    expect(r.issues.filter((i) => i.severity === "error").map((i) => [i.code, i.line, i.field])).toEqual([
      ["DATA_MISSING_FIELD", 2, "answer"],
      ["DATA_CONSECUTIVE_ROLES", 3, "prompt[2].role"],
    ]);
    const e = await errorOf(writeSnapshot(path, mkdtempSync(join(tmpdir(), "grpo-run-")), { method: "grpo", promptFields: ["answer"] }));
    expect(e).toMatchObject({ code: "DATA_INVALID", message: expect.stringContaining("line 2: answer is missing: the rewards compare each completion with the row's answer") });
  });

  it("a prompt alone in a file of prompt/completion rows is a row without its completion", async () => {
    const path = file("pc.jsonl", [{ prompt: "a", completion: "b" }, { prompt: "c", completion: "d" }, { prompt: "e" }]);
    const r = await inspectDataset(path, { method: "sft" });
    expect(r.issues.find((i) => i.severity === "error")).toMatchObject({ code: "DATA_MISSING_FIELD", line: 3, field: "completion" });
  });

  it("measures prompts as the worker does: its data/prompts.py keeps and drops the same rows, at the same lengths", async () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ prompt: `Question ${i}: ${"tell me more ".repeat(i)}?`, answer: String(i) }));
    const path = file("lengths.jsonl", rows);
    const r = await inspectDataset(path, { model, method: "grpo", maxLength: 64, completionTokens: 16, promptFields: ["answer"] });
    const t = r.stats.tokens!;
    const run = mkdtempSync(join(tmpdir(), "grpo-run-"));
    await writeSnapshot(path, run, { method: "grpo", promptFields: ["answer"] });
    const code = [
      "import json, sys",
      "from transformers import AutoTokenizer",
      "from whetstone_worker.data.prompts import build_prompts",
      "tok = AutoTokenizer.from_pretrained(sys.argv[1])",
      "rows, report = build_prompts(tok, sys.argv[2], 64, 16, 'drop')",
      "print(json.dumps({'lengths': [len(r.ids) for r in rows], 'fields': [r.fields for r in rows], 'dropped': dict(report.dropped)}))",
    ].join("\n");
    const worker = JSON.parse(await workerPythonOutput(["-c", code, model, join(run, "data", "train.jsonl")])) as { lengths: number[]; fields: Record<string, unknown>[]; dropped: Record<string, number> };
    expect(t.dropped_too_long).toBeGreaterThan(0);
    expect(t.kept).toBe(worker.lengths.length);
    expect(t.dropped_too_long).toBe(worker.dropped.too_long ?? 0);
    expect(t.tokens_per_epoch).toBe(worker.lengths.reduce((a, b) => a + b, 0));
    expect(worker.fields.map((f) => f.answer)).toEqual(rows.slice(0, worker.lengths.length).map((x) => x.answer));
    expect(r.summary.find((s) => s.code === "DATA_TOO_LONG")).toMatchObject({ severity: "warning", count: t.dropped_too_long });
    expect(r.issues.find((i) => i.code === "DATA_TOO_LONG")!.message).toMatch(/over the 48 that max_length 64 leaves beside 16 completion tokens: it will be dropped/);
  }, 60_000);
});
