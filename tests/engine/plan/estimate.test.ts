import { describe, expect, it } from "vitest";
import { countParameters, estimateMemory, flopsPerToken, loraParameters, shapeFromConfig, suggestFits, type PlanInput } from "../../../engine/plan/estimate";

// Shapes straight from the models' config.json files.
const llama3_8b = shapeFromConfig({ model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, tie_word_embeddings: false });
const llama32_1b = shapeFromConfig({ model_type: "llama", hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, tie_word_embeddings: true });
const qwen25_05b = shapeFromConfig({ model_type: "qwen2", hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true });

const lora8b: PlanInput = { finetune: "lora", loraRank: 16, loraTargets: "all-linear", microBatchSize: 1, maxLength: 2048, gradientCheckpointing: false, weightBytes: 2, activationBytes: 2, device: "cuda" };
const GIB = 2 ** 30;

describe("memory and FLOPs estimates", () => {
  it("stores no s² attention scores on CUDA or CPU (flash kernels), only on MPS (SDPA's math kernel)", () => {
    const at = (device: PlanInput["device"], maxLength: number) => estimateMemory(qwen25_05b, { ...lora8b, device, maxLength, chunkedLoss: true }).bytes.activations!;
    // Without an s² term, activations double when the sequence doubles; with it they grow faster.
    for (const device of ["cuda", "cpu"] as const) expect(at(device, 4096) / at(device, 2048)).toBeCloseTo(2, 6);
    expect(at("mps", 4096) / at("mps", 2048)).toBeGreaterThan(2.5);
  });

  it("counts parameters exactly as the published models have them", () => {
    expect(countParameters(llama3_8b)).toBe(8_030_261_248);
    expect(countParameters(llama32_1b)).toBe(1_235_814_400);
    expect(countParameters(qwen25_05b)).toBe(494_032_768);
  });

  it("counts LoRA parameters per targeted module", () => {
    // r·(in+out) for q,k,v,o,gate,up,down in each of 32 layers.
    expect(loraParameters(llama3_8b, 16, "all-linear")).toBe(32 * 16 * (8192 + 5120 + 5120 + 8192 + 18432 * 3));
    expect(loraParameters(llama3_8b, 8, ["q_proj", "v_proj"])).toBe(32 * 8 * (8192 + 5120));
  });

  it("matches ALGORITHMS.md's 33.5 GFLOP per token for Llama-3-8B LoRA at 2048", () => {
    expect(flopsPerToken(llama3_8b, lora8b) / 1e9).toBeCloseTo(33.5, 0);
  });

  it("breaks the peak down and lets checkpointing and smaller micro-batches shrink activations", () => {
    const e = estimateMemory(llama3_8b, lora8b);
    expect(e.bytes.weights / GIB).toBeCloseTo(14.96, 1);
    expect(e.trainable).toBe(loraParameters(llama3_8b, 16, "all-linear"));
    const ckpt = estimateMemory(llama3_8b, { ...lora8b, gradientCheckpointing: true });
    expect(ckpt.bytes.activations).toBeLessThan(e.bytes.activations / 5);
    const bigger = estimateMemory(llama3_8b, { ...lora8b, microBatchSize: 4 });
    expect(bigger.bytes.activations).toBe(4 * e.bytes.activations);
    // Full fine-tuning: fp32 weights, gradients and two Adam moments: 16 bytes a parameter.
    const full = estimateMemory(llama3_8b, { ...lora8b, finetune: "full" });
    expect((full.bytes.weights + full.bytes.gradients + full.bytes.optimizer) / full.parameters).toBe(16);
  });

  it("proposes changes that fit a smaller GPU, each with its new estimate", () => {
    const plan = { ...lora8b, microBatchSize: 8 };
    const budget = 24 * GIB;
    expect(estimateMemory(llama3_8b, plan).total).toBeGreaterThan(budget);
    const fits = suggestFits(llama3_8b, plan, budget);
    expect(fits.length).toBeGreaterThan(0);
    for (const f of fits) expect(f.total).toBeLessThanOrEqual(budget);
    expect(fits.map((f) => f.change).join("\n")).toMatch(/gradient_checkpointing|micro_batch_size/);
  });
});

describe("preference methods", () => {
  const sft = estimateMemory(llama3_8b, lora8b);
  const dpo = (p: Partial<PlanInput>) => estimateMemory(llama3_8b, { ...lora8b, method: "dpo", chunkedLoss: true, ...p });

  it("counts 2n sequences per micro-batch: LoRA DPO's activations are twice SFT's at the same micro_batch_size", () => {
    expect(dpo({}).bytes.activations).toBe(2 * sft.bytes.activations);
    expect(dpo({ microBatchSize: 2 }).bytes.activations).toBe(4 * sft.bytes.activations);
    const cpu = { ...lora8b, device: "cpu" as const, activationBytes: 4 as const, weightBytes: 4 as const };
    expect(estimateMemory(llama3_8b, { ...cpu, method: "orpo" }).bytes.activations).toBe(2 * estimateMemory(llama3_8b, cpu).bytes.activations);
    // Same as SFT with twice the micro-batch, apart from the reference pass.
    expect(dpo({ precomputeReference: true }).total).toBe(estimateMemory(llama3_8b, { ...lora8b, microBatchSize: 2, chunkedLoss: true }).total);
  });

  it("gives LoRA DPO's reference pass a working set but no weights, and SimPO, ORPO or precomputed log-probs none", () => {
    const reference = dpo({}).bytes.reference;
    expect(reference).toBeGreaterThan(0);
    expect(reference).toBeLessThan(0.2 * sft.bytes.weights); // a no-grad forward's working set and one chunk of logits
    expect(dpo({ finetune: "full" }).bytes.reference - reference).toBe(sft.parameters * 4); // full adds exactly an fp32 copy
    expect(dpo({ precomputeReference: true }).bytes.reference).toBe(0);
    for (const method of ["simpo", "orpo", "sft"] as const) expect(estimateMemory(llama3_8b, { ...lora8b, method }).bytes.reference).toBe(0);
    expect(dpo({}).total).toBeGreaterThan(dpo({ precomputeReference: true }).total);
  });

  it("holds a frozen copy of the weights for full-fine-tuning DPO without precomputed log-probs", () => {
    const full = dpo({ finetune: "full" });
    expect(full.bytes.reference / full.bytes.weights).toBeGreaterThan(1);
    expect(full.bytes.reference / full.bytes.weights).toBeLessThan(1.1);
    const precomputed = dpo({ finetune: "full", precomputeReference: true });
    expect(precomputed.bytes.reference).toBe(0);
    expect(full.total - precomputed.total).toBeGreaterThan(full.bytes.weights);
  });

  it("keeps one chunk of logits with chunked log-probs, 2n rows of them without", () => {
    const plain = estimateMemory(llama3_8b, { ...lora8b, method: "simpo" });
    expect(plain.bytes.logits).toBe(2 * sft.bytes.logits);
    const chunked = estimateMemory(llama3_8b, { ...lora8b, method: "simpo", chunkedLoss: true });
    expect(chunked.bytes.logits).toBe(estimateMemory(llama3_8b, { ...lora8b, chunkedLoss: true }).bytes.logits);
    expect(chunked.bytes.logits).toBe(1024 * 128256 * (2 + 12));
  });

  it("adds a forward pass per token for DPO's reference, none when precomputed", () => {
    const base = flopsPerToken(llama3_8b, lora8b);
    expect(flopsPerToken(llama3_8b, { ...lora8b, method: "dpo", precomputeReference: true })).toBe(base);
    expect(flopsPerToken(llama3_8b, { ...lora8b, method: "dpo" }) / base).toBeCloseTo(1.46, 1); // 4N → 6N, attention ×4/3
  });
});

/** A bundled example's resolved config, on the tiny model (built if missing). */
async function loadExample(name: string) {
  const { loadConfigFile } = await import("../../../engine/config/file");
  const { ensureTinyModel } = await import("../../helpers/fixture");
  const { join } = await import("node:path");
  const { PROJECT_ROOT } = await import("../../../engine/paths");
  ensureTinyModel();
  return loadConfigFile(join(PROJECT_ROOT, "examples", name)).config;
}

describe("planRun", () => {
  it("plans the tiny example on this machine's CPU memory: fits, with a breakdown", async () => {
    const { planRun, formatPlan } = await import("../../../engine/plan/plan");
    const config = await loadExample("tiny-sft.yaml");
    const plan = planRun(config, { kind: "cpu", name: "CPU", memoryBytes: 16 * GIB });
    // The worker reports 218,432 with the 16,384 LoRA parameters added.
    expect(plan.estimate.parameters).toBe(202_048);
    expect(plan.estimate.trainable).toBe(16_384);
    expect(plan.fits).toBe(true);
    expect(formatPlan(plan)).toMatch(/peak memory ≈ [\d.]+ GiB: overhead/);
    const h100 = planRun({ ...config, model: { ...config.model } }, { kind: "cuda", name: "NVIDIA H100 80GB HBM3", memoryBytes: 80 * GIB });
    expect(h100.tokensPerSecondGuess).toBeGreaterThan(0);
    const tooSmall = planRun(config, { kind: "cuda", name: "tiny GPU", memoryBytes: 0.5 * GIB });
    expect(tooSmall.fits).toBe(false);
    expect(formatPlan(tooSmall)).toContain("fits: NO");
  });

  it("plans the DPO example as pairs with a reference pass", async () => {
    const { planRun, formatPlan } = await import("../../../engine/plan/plan");
    const config = await loadExample("tiny-dpo.yaml");
    const plan = planRun(config, { kind: "cpu", name: "CPU", memoryBytes: 16 * GIB });
    expect(plan.input.method).toBe("dpo");
    expect(plan.input.precomputeReference).toBe(false);
    expect(plan.estimate.bytes.reference).toBeGreaterThan(0);
    expect(formatPlan(plan)).toMatch(/reference [\d.]+ GiB/);
    const sftPlan = planRun({ ...config, method: "sft", preference: null }, plan.device);
    expect(plan.estimate.bytes.activations).toBe(2 * sftPlan.estimate.bytes.activations);
  });
});
