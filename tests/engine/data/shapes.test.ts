/**
 * Every public dataset shape we read (tests/fixtures/datasets/shapes/: rows written here, in each
 * shape, saying the same thing) is detected as it is, with no mapping, and is trainable by the
 * methods it should be (conversations train sft, and grpo on the turns before their answer), checked with the tiny model's tokenizer and template as `data check
 * --model --method` does. The shapes of one kind normalize to the same samples. One compressed
 * file trains for real through the CLI.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { inspectDataset } from "../../../engine/data/inspect";
import { scanDataset, type ScanOptions } from "../../../engine/data/scan";
import type { Method, Sample, SchemaName } from "../../../engine/data/types";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, TINY_MODEL } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

const SHAPES = join(PROJECT_ROOT, "tests", "fixtures", "datasets", "shapes");
const STACKEXCHANGE_COLUMNS = { question: "prompt", response_j: "chosen", response_k: "rejected" };

interface Shape {
  file: string;
  schema: SchemaName;
  methods: Method[];
  columns?: Record<string, string>;
}

const SHAPE_TABLE: Shape[] = [
  { file: "alpaca.json", schema: "alpaca", methods: ["sft", "grpo"] },
  { file: "sharegpt.json", schema: "sharegpt", methods: ["sft", "grpo"] },
  { file: "openai-messages.jsonl", schema: "chat", methods: ["sft", "grpo"] },
  { file: "openai-messages.jsonl.gz", schema: "chat", methods: ["sft", "grpo"] },
  { file: "openai-messages.jsonl.zst", schema: "chat", methods: ["sft", "grpo"] },
  { file: "llm-foundry.jsonl", schema: "prompt_completion", methods: ["sft", "grpo"] },
  { file: "sharegpt-tools.json", schema: "sharegpt", methods: ["sft", "grpo"] },
  { file: "openai-tools.jsonl", schema: "chat", methods: ["sft", "grpo"] },
  { file: "trl-preference.jsonl", schema: "preference", methods: ["dpo", "simpo", "orpo"] },
  { file: "hh.jsonl", schema: "preference", methods: ["dpo", "simpo", "orpo"] },
  { file: "llamafactory-sharegpt-preference.json", schema: "preference", methods: ["dpo", "simpo", "orpo"] },
  { file: "llamafactory-v1.jsonl", schema: "preference", methods: ["dpo", "simpo", "orpo"] },
  { file: "stackexchange-paired.jsonl", schema: "preference", methods: ["dpo", "simpo", "orpo"], columns: STACKEXCHANGE_COLUMNS },
  { file: "trl-unpaired.jsonl", schema: "unpaired", methods: ["kto", "sft"] },
  { file: "trl-prompt-only.jsonl", schema: "prompt", methods: ["grpo"] },
  { file: "gsm8k.jsonl", schema: "prompt_completion", methods: ["sft", "grpo"] },
];

let model: string;
beforeAll(() => {
  model = ensureTinyModel();
});

async function samples(file: string, opts: ScanOptions = {}): Promise<Sample[]> {
  const out: Sample[] = [];
  await scanDataset(join(SHAPES, file), { ...opts, onRow: (r) => void (r.sample && out.push(r.sample)) });
  return out;
}

describe("every shape is detected and trains its methods", () => {
  it.each(SHAPE_TABLE.map((s) => [s.file, s] as const))("%s", async (_file, shape) => {
    const path = join(SHAPES, shape.file);
    const plain = await inspectDataset(path, { model, ...(shape.columns ? { columns: shape.columns } : {}) });
    expect(plain).toMatchObject({ schema: shape.schema, methods: shape.methods, errors: 0, trainable: true });
    for (const method of shape.methods) {
      const r = await inspectDataset(path, { model, method, ...(shape.columns ? { columns: shape.columns } : {}) });
      expect(r.errors, `${shape.file} with ${method}: ${r.summary.map((s) => s.message).join("; ")}`).toBe(0);
      expect(r.trainable).toBe(true);
      // Measured with the model's template: every kept sample has trained tokens (grpo's prompts none: it samples its answers).
      expect(r.stats.tokens!.kept).toBe(r.stats.samples);
      if (method === "grpo") expect(r.stats.tokens!.trained_tokens_per_epoch).toBe(0);
      else expect(r.stats.tokens!.trained_tokens_per_epoch).toBeGreaterThan(0);
    }
    const other = (["sft", "dpo", "kto"] as const).find((m) => !shape.methods.includes(m))!;
    const wrong = await inspectDataset(path, { method: other, ...(shape.columns ? { columns: shape.columns } : {}) });
    expect(wrong.trainable).toBe(false);
    expect(wrong.summary.map((s) => s.code)).toContain("DATA_METHOD_MISMATCH");
  });

  it("StackExchange-paired without a mapping: the hint is one complete command line", async () => {
    const path = join(SHAPES, "stackexchange-paired.jsonl");
    const r = await inspectDataset(path);
    expect(r.trainable).toBe(false);
    const s = r.summary.find((x) => x.code === "DATA_UNKNOWN_SCHEMA")!;
    expect(s.hint).toContain(`whetstone data check ${path} --columns question=prompt,response_j=chosen,response_k=rejected (check that response_j holds the preferred answer)`);
  });

  it("unpaired rows for sft: those labelled false are left out, counted", async () => {
    const r = await inspectDataset(join(SHAPES, "trl-unpaired.jsonl"), { method: "sft" });
    expect(r.stats.samples).toBe(3);
    expect(r.summary.find((s) => s.code === "DATA_UNDESIRABLE")).toMatchObject({ severity: "warning", rows: 3 });
  });
});

describe("the shapes of one kind say the same thing", () => {
  it("conversations: Alpaca, ShareGPT, OpenAI messages (plain, gzip, zstd); llm-foundry without the system prompt", async () => {
    const reference = await samples("openai-messages.jsonl");
    expect(reference).toHaveLength(3);
    for (const f of ["alpaca.json", "sharegpt.json", "openai-messages.jsonl.gz", "openai-messages.jsonl.zst"]) expect(await samples(f), f).toEqual(reference);
    const noSystem = reference.map((s) => ({ messages: (s as { messages: { role: string }[] }).messages.filter((m) => m.role !== "system") }));
    expect(await samples("llm-foundry.jsonl")).toEqual(noSystem);
  });

  it("pairs: TRL, HH, LLaMA-Factory ShareGPT and v1, StackExchange-paired (mapped)", async () => {
    const reference = await samples("trl-preference.jsonl");
    expect(reference[0]).toEqual({ prompt: [{ role: "user", content: "What is the capital of France?" }], chosen: [{ role: "assistant", content: "It’s Paris." }], rejected: [{ role: "assistant", content: "It’s Lyon." }] });
    for (const f of ["hh.jsonl", "llamafactory-sharegpt-preference.json", "llamafactory-v1.jsonl"]) expect(await samples(f), f).toEqual(reference);
    expect(await samples("stackexchange-paired.jsonl", { columns: STACKEXCHANGE_COLUMNS })).toEqual(reference);
  });

  it("tool calling: ShareGPT function_call/observation and OpenAI tool_calls/tool give the same turns, with the tools", async () => {
    const a = (await samples("sharegpt-tools.json")) as { messages: unknown[]; tools?: unknown[] }[];
    const b = (await samples("openai-tools.jsonl")) as { messages: unknown[]; tools?: unknown[] }[];
    expect(a.map((s) => s.messages)).toEqual(b.map((s) => s.messages));
    expect(a[0]!.messages[1]).toEqual({ role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "get_weather", arguments: { city: "Paris" } } }] });
    expect(a[0]!.messages[2]).toMatchObject({ role: "tool" });
    for (const s of [...a, ...b]) expect(JSON.stringify(s.tools)).toContain("get_weather");
  });
});

describe("a compressed file trains", () => {
  it("whetstone train on a .jsonl.zst: the run records the file's own hash and trains the decompressed rows", () => {
    const home = tempHome();
    const dir = mkdtempSync(join(tmpdir(), "whetstone-zst-train-"));
    const source = join(SHAPES, "openai-messages.jsonl.zst");
    const cfg = join(dir, "run.yaml");
    writeFileSync(cfg, `model:\n  path: ${TINY_MODEL}\ndata:\n  train: ${source}\n  max_length: 64\nlora: {r: 4, alpha: 8}\ntraining:\n  max_steps: 2\n  micro_batch_size: 2\n  checkpoint_every: 100\n`);
    const cli = (args: string[]) => spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), ...args], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
    const r = cli(["train", cfg]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/completed: \S+ at step 2\/2/);
    const id = (JSON.parse(cli(["runs", "--json"]).stdout) as { id: string }[])[0]!.id;
    const shown = JSON.parse(cli(["show", id, "--json"]).stdout);
    expect(shown.data).toMatchObject({ rows: 3, format: "jsonl", schema: "chat", source_sha256: createHash("sha256").update(readFileSync(source)).digest("hex") });
  });
});
