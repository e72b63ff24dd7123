/**
 * The plan of a run on several devices (training.devices > 1): memory per GPU, LoRA replicated and a
 * full fine-tune sharded with FSDP2 (estimate.ts), the advice to shard a full fine-tune that does
 * not fit one GPU of this machine (plan.ts), and the preflight that cannot measure a sharded run.
 *
 * Every figure below is derived by hand in the comments from the models' published config.json
 * shapes (the same ones estimate.test.ts uses), at micro-batch 1 × 2048 tokens, bf16 activations on
 * CUDA, the chunked loss, no gradient checkpointing.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { validateConfig } from "../../../engine/config/load";
import { estimateMemory, layerParameters, loraParameters, rootParameters, shapeFromConfig, suggestFits, type PlanInput } from "../../../engine/plan/estimate";
import { formatPlan, planRun, type Device } from "../../../engine/plan/plan";
import { measurable, wantsPreflight } from "../../../engine/plan/preflight";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";

const llama31_8b_config = { model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, tie_word_embeddings: false };
const llama32_1b_config = { model_type: "llama", hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, tie_word_embeddings: true };
const llama31_8b = shapeFromConfig(llama31_8b_config);
const llama32_1b = shapeFromConfig(llama32_1b_config);

const GIB = 2 ** 30;
const lora: PlanInput = { finetune: "lora", loraRank: 16, loraTargets: "all-linear", microBatchSize: 1, maxLength: 2048, gradientCheckpointing: false, weightBytes: 2, activationBytes: 2, device: "cuda", chunkedLoss: true };
const full: PlanInput = { ...lora, finetune: "full" };
const sum = (bytes: Record<string, number>) => Object.values(bytes).reduce((a, b) => a + b, 0);

/*
 * Llama-3.2-1B (tied embeddings): P = 1,235,814,400.
 *   root (embeddings + final norm)  128256·2048 + 2048                                  =   262,670,336
 *   one decoder layer               q 2048·2048 + k,v 2·2048·512 + o 2048·2048
 *                                   + gate, up, down 3·2048·8192 + two norms 2·2048     =    60,821,504
 *   (262,670,336 + 16 · 60,821,504 = 1,235,814,400 = P)
 * Buffers of one device, as on one GPU:
 *   activations  2048 tokens · 16 layers · (6·2048 + 2·512 + 5·8192 = 54,272) · 2 B     = 3,556,769,792
 *   logits       one chunk: 1024 · 128256 · (2 + 4 + 4 + 4) B                         = 1,838,678,016
 *   overhead     0.75 GiB                                                              =   805,306,368
 * One GPU: 16 B per parameter (fp32 weights, gradients, two AdamW moments) = 19,773,030,400;
 *   sum 25,973,784,576, × 1.08 = 28,051,687,342 (26.12 GiB): over a 24 GiB GPU.
 * Sharded over 2 (gradient_accumulation 2: one micro-batch per device and step):
 *   weights 4P/2 = 2,471,628,800, gradients 2,471,628,800, AdamW 8P/2 = 4,943,257,600
 *   gathered  fp32: the root and its gradients (2 · 262,670,336), two layers and the running one's
 *             gradients and their reduce-scatter copy (4 · 60,821,504): 4 · 768,626,688 = 3,074,506,752
 *   sum 19,161,776,128, × 1.08 = 20,694,718,218 (19.27 GiB)
 * Sharded over 4 (gradient_accumulation 4): 16P/4 = 4,943,257,600; sum 14,218,518,528,
 *   × 1.08 = 15,356,000,010 (14.30 GiB)
 * Over 4 with gradient_accumulation 8: two micro-batches per device, FSDP2 keeps the gradients whole
 *   between them (4P = 4,943,257,600 instead of 1,235,814,400): sum 17,925,961,728, × 1.08 = 19,360,038,666
 */
describe("memory per device", () => {
  it("leaves one device's estimate as it was: nothing gathered, nothing all-reduced", () => {
    for (const p of [lora, full]) {
      const one = estimateMemory(llama31_8b, p);
      expect(estimateMemory(llama31_8b, { ...p, devices: 1, gradientAccumulation: 8 })).toEqual(one);
      expect(one.bytes.gathered).toBe(0);
      expect(one.bytes.allreduce).toBe(0);
    }
    expect(estimateMemory(llama32_1b, full).total).toBe(28_051_687_342);
  });

  it("splits the model of Llama-3.2-1B into the root and 16 decoder layers", () => {
    expect(rootParameters(llama32_1b)).toBe(262_670_336);
    expect(layerParameters(llama32_1b)).toBe(60_821_504);
    expect(rootParameters(llama31_8b)).toBe(1_050_677_248); // 2 · 128256 · 4096 + 4096: untied head
    expect(layerParameters(llama31_8b)).toBe(218_112_000);
  });

  it("LoRA: every device holds what one does, plus an fp32 copy of the adapter's gradients for the all-reduce", () => {
    // Llama-3.1-8B, r 16 on all linear layers: 32 · 16 · (8192 + 5120 + 5120 + 8192 + 3 · 18432) = 41,943,040 parameters.
    expect(loraParameters(llama31_8b, 16, "all-linear")).toBe(41_943_040);
    const one = estimateMemory(llama31_8b, lora);
    for (const devices of [2, 8]) {
      const each = estimateMemory(llama31_8b, { ...lora, devices, gradientAccumulation: 8 });
      expect(each.bytes.allreduce).toBe(41_943_040 * 4); // 160 MiB, however many devices
      expect(each.bytes.weights).toBe(one.bytes.weights); // the whole bf16 base on each
      expect(each.bytes.activations).toBe(one.bytes.activations); // its own micro-batch
      expect(each.total).toBe(Math.round((sum(one.bytes) + 167_772_160) * 1.08));
    }
  });

  it("full fine-tuning, sharded: Llama-3.2-1B needs 19.27 GiB a GPU over 2, 14.30 GiB over 4", () => {
    const two = estimateMemory(llama32_1b, { ...full, devices: 2, gradientAccumulation: 2 });
    expect(two.bytes).toMatchObject({ weights: 2_471_628_800, gradients: 2_471_628_800, optimizer: 4_943_257_600, gathered: 3_074_506_752, allreduce: 0 });
    expect(two.bytes.activations).toBe(3_556_769_792);
    expect(two.bytes.logits).toBe(1_838_678_016);
    expect(sum(two.bytes)).toBe(19_161_776_128);
    expect(two.total).toBe(20_694_718_218);
    expect(estimateMemory(llama32_1b, { ...full, devices: 4, gradientAccumulation: 4 }).total).toBe(15_356_000_010);
  });

  it("a device that forwards two micro-batches a step keeps only its shard of the gradients (reduce-scattered after each)", () => {
    const eight = estimateMemory(llama32_1b, { ...full, devices: 4, gradientAccumulation: 8 });
    expect(eight.bytes.gradients).toBe(1_235_814_400);
    expect(eight.bytes.weights).toBe(1_235_814_400);
    expect(eight.total).toBe(15_356_000_010); // as with one micro-batch each: activations are one micro-batch's
  });

  it("Llama-3.1-8B full over 8 GPUs: 2 B of state a parameter plus 11.08 GiB gathered", () => {
    // 16 B · 8,030,261,248 / 8 = 16,060,522,496 of weights, gradients and moments; the untied root (1,050,677,248,
    // twice: weights and gradients) and four layer-sized buffers (218,112,000) in fp32: 4 · 2,973,802,496 = 11,895,209,984.
    const each = estimateMemory(llama31_8b, { ...full, devices: 8, gradientAccumulation: 8 });
    expect(each.bytes.weights + each.bytes.gradients + each.bytes.optimizer).toBe(16_060_522_496);
    expect(each.bytes.gathered).toBe(11_895_209_984);
    expect(each.total / GIB).toBeCloseTo(43.74, 2); // one GPU: 144.85 GiB
    expect(estimateMemory(llama31_8b, full).total / GIB).toBeCloseTo(144.85, 2);
  });
});

describe("advice to shard", () => {
  it("offers a full fine-tune that does not fit one GPU the machine's GPUs first, in words for people", () => {
    const p = { ...full, gradientAccumulation: 4 };
    const [first, ...rest] = suggestFits(llama32_1b, p, 24 * GIB, 4, 4);
    expect(first).toMatchObject({ apply: { devices: 4 }, total: 15_356_000_010, change: "training.devices 4: sharded over the 4 GPUs of this machine" });
    expect(first!.words).toBe("Train on all 4 GPUs of this machine: the weights, gradients and optimizer state are split across them, about 14.3 GiB on each");
    expect(rest.some((s) => s.apply.devices !== undefined)).toBe(false);
    // One GPU, or LoRA (replicated, so more GPUs hold no less each): never.
    expect(suggestFits(llama32_1b, p, 24 * GIB, 4, 1).some((s) => s.apply.devices)).toBe(false);
    expect(suggestFits(llama31_8b, { ...lora, microBatchSize: 8 }, 24 * GIB, 1, 4).some((s) => s.apply.devices)).toBe(false);
  });
});

/** A model folder with only a config.json: the plan reads nothing else. */
function modelFolder(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "whetstone-shape-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

describe("planRun on a machine with 4 GPUs of 24 GiB", () => {
  const rtx4090x4: Device = { kind: "cuda", name: "NVIDIA GeForce RTX 4090", memoryBytes: 24 * GIB, count: 4 };
  const config = (devices?: number | "auto") =>
    validateConfig(
      {
        model: { path: modelFolder(llama32_1b_config) },
        data: { train: "/d.jsonl", max_length: 2048 },
        finetune: "full",
        training: { micro_batch_size: 1, gradient_accumulation: 4, gradient_checkpointing: false, ...(devices !== undefined ? { devices } : {}) },
      },
      { checkPaths: false },
    );

  it("on one GPU: does not fit (26.1 GiB), and says that sharded over the 4 it needs 14.3 GiB each", () => {
    const plan = planRun(config(), rtx4090x4);
    expect(plan.devices).toBe(1);
    expect(plan.estimate.total).toBe(28_051_687_342);
    expect(plan.fits).toBe(false);
    expect(plan.suggestions[0]).toMatchObject({ apply: { devices: 4 }, total: 15_356_000_010 });
    const text = formatPlan(plan);
    expect(text).toContain("fits: NO on one GPU (needs 26.1 GiB, has 24.0 GiB)");
    expect(text).toContain("would fit with: training.devices 4: sharded over the 4 GPUs of this machine (≈ 14.3 GiB per GPU)");
  });

  it("with devices 4 (or auto): the memory per GPU, which fits", () => {
    for (const devices of [4, "auto"] as const) {
      const plan = planRun(config(devices), rtx4090x4);
      expect(plan.devices).toBe(4);
      expect(plan.estimate.total).toBe(15_356_000_010);
      expect(plan.fits).toBe(true);
      expect(plan.near_limit).toBe(false); // 14.3 of 24 GiB, under 80%
      const text = formatPlan(plan);
      expect(text).toMatch(/^plan on 4 × NVIDIA GeForce RTX 4090 \(24\.0 GiB each\)\n/);
      expect(text).toContain("  sharded over 4 GPUs (FSDP2): weights, gradients and AdamW state 1/4 each");
      expect(text).toContain("  peak memory ≈ 14.3 GiB per GPU: ");
      expect(text).toContain("fits: yes");
    }
  });

  it("over 2 of them: fits, near the limit (19.3 of 24 GiB), however many micro-batches each forwards", () => {
    const plan = planRun({ ...config(2), training: { ...config(2).training, gradient_accumulation: 2 } }, rtx4090x4);
    expect(plan.estimate.total).toBe(20_694_718_218);
    expect(plan.fits && plan.near_limit).toBe(true);
    // 4 micro-batches over 2: two each; gradients are reduce-scattered after each, so they stay 1/2.
    const two = planRun(config(2), rtx4090x4);
    expect(two.estimate.total).toBe(20_694_718_218);
    expect(formatPlan(two)).toContain("sharded over 2 GPUs (FSDP2): weights, gradients and AdamW state 1/2 each");
  });

  it("on the CPU the processes share the system's memory", () => {
    const cpu: Device = { kind: "cpu", name: "CPU (system memory)", memoryBytes: 64 * GIB };
    const lora2 = { ...config(2), finetune: "lora" as const };
    const one = planRun({ ...lora2, training: { ...lora2.training, devices: undefined } }, cpu);
    const two = planRun(lora2, cpu);
    expect(two.estimate.total).toBeGreaterThan(one.estimate.total);
    expect(two.fits).toBe(2 * two.estimate.total <= 64 * GIB);
    expect(formatPlan(two)).toMatch(/^plan on CPU \(system memory\) \(64\.0 GiB, shared by 2 processes\)\n/);
    expect(formatPlan(two)).toMatch(/peak memory ≈ [\d.]+ GiB per process \([\d.]+ GiB for the 2\)/);
  });
});

describe("preflight of a run on several devices", () => {
  it("measures LoRA (one device's share), not a sharded full fine-tune (one process would hold it whole)", async () => {
    expect(measurable({ devices: 2, input: { ...lora } })).toBe(true);
    expect(measurable({ devices: 1, input: { ...full } })).toBe(true);
    expect(measurable({ devices: 2, input: { ...full } })).toBe(false);
    expect(wantsPreflight({ fits: true, near_limit: false }, false)).toBe(false);
    ensureTinyModel();
    const engine = new Engine({ home: tempHome() });
    const sharded = tinyConfig({ finetune: "full", training: { devices: 2 } });
    await expect(engine.call("preflightRun", { config: sharded })).rejects.toMatchObject({ code: "PREFLIGHT_UNSUPPORTED", message: expect.stringMatching(/sharded over 2 devices; the estimate stands \([\d.]+ GiB per device\)/) });
  });
});
