/**
 * How many trainings fit at once (plan/side-by-side): from the plan's peak of each (the estimator's
 * real figures for Llama-3.2-1B LoRA on a GPU, and the tiny model's plan on this CPU) and a given free
 * memory and core count, so every limit is reached on purpose: memory, cores, the user's cap, the
 * number of trials, a run on several devices, and a trial the plan cannot estimate.
 */
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../../engine/config/load";
import { estimateMemory, shapeFromConfig, type PlanInput } from "../../../engine/plan/estimate";
import { planRun } from "../../../engine/plan/plan";
import { MARGIN_MIN_BYTES, decideSideBySide, withMargin, type FreeMemory } from "../../../engine/plan/side-by-side";
import { ensureTinyModel, tinyConfig } from "../../helpers/fixture";

const GIB = 2 ** 30;
const llama32_1b = shapeFromConfig({ model_type: "llama", hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, tie_word_embeddings: true });
const lora: PlanInput = { finetune: "lora", loraRank: 16, loraTargets: "all-linear", microBatchSize: 1, maxLength: 2048, gradientCheckpointing: false, weightBytes: 2, activationBytes: 2, device: "cuda", chunkedLoss: true };
const h200 = (freeBytes: number): FreeMemory => ({ kind: "cuda", name: "NVIDIA H200", freeBytes, cores: 16 });
const cpu = (freeBytes: number, cores: number): FreeMemory => ({ kind: "cpu", name: "CPU (system memory)", freeBytes, cores });

describe("trainings side by side", () => {
  // Llama-3.2-1B, LoRA r16, 1 × 2048 tokens on CUDA: the estimator's peak (devices.test.ts derives it by hand).
  const peak = estimateMemory(llama32_1b, lora).total;
  const per = withMargin(peak);

  it("counts each training as its planned peak plus a fifth (at least 256 MiB)", () => {
    expect(peak / GIB).toBeCloseTo(8.9, 1); // devices.test.ts derives its parts by hand
    expect(per).toBe(peak * 1.2);
    expect(withMargin(100 * 2 ** 20)).toBe(100 * 2 ** 20 + MARGIN_MIN_BYTES);
  });

  it("on a GPU: as many as fit in its free memory, never more than the trials or the cap", () => {
    const peaks = [peak, peak, peak, peak, peak];
    const free = 3.5 * per; // room for three and a half
    const auto = decideSideBySide({ device: h200(free), peaks, cap: "auto", devicesPerTraining: 1, threads: null });
    expect(auto).toMatchObject({ slots: 3, limit: "memory", perTrainingBytes: per, freeBytes: free, threads: null });
    expect(auto.text).toBe("3 at a time: each needs about 11 GB, with a safety margin, of the 40 GB free on NVIDIA H200");
    expect(decideSideBySide({ device: h200(free), peaks, cap: 2, devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 2, limit: "cap", text: expect.stringMatching(/^2 at a time \(the most allowed\): /) });
    expect(decideSideBySide({ device: h200(free), peaks: peaks.slice(0, 2), cap: "auto", devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 2, limit: "trainings", text: expect.stringMatching(/^all 2 trials at once: /) });
    // Two do not fit: one at a time, saying why.
    const tight = decideSideBySide({ device: h200(1.9 * per), peaks, cap: "auto", devicesPerTraining: 1, threads: null });
    expect(tight).toMatchObject({ slots: 1, limit: "memory" });
    expect(tight.text).toBe("one at a time: each needs about 11 GB, with a safety margin, of the 22 GB free on NVIDIA H200");
    // Trials of different sizes: each counts as the largest.
    const mixed = decideSideBySide({ device: h200(3.5 * per), peaks: [peak / 4, peak, peak / 4, peak / 4], cap: "auto", devicesPerTraining: 1, threads: null });
    expect(mixed).toMatchObject({ slots: 3, perTrainingBytes: per });
    // The GPU's cores do not limit it, and its trainings keep their threads.
    expect(decideSideBySide({ device: { ...h200(100 * per), cores: 2 }, peaks, cap: "auto", devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 5, threads: null });
  });

  it("one at a time when asked, when a trial trains on several devices, or when one cannot be planned", () => {
    const lots = h200(1000 * GIB);
    expect(decideSideBySide({ device: lots, peaks: [peak, peak], cap: 1, devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 1, limit: "cap", text: "one at a time, as chosen" });
    expect(decideSideBySide({ device: lots, peaks: [peak, peak], cap: "auto", devicesPerTraining: 2, threads: null })).toMatchObject({ slots: 1, limit: "devices", text: "one at a time: each trial trains on 2 devices" });
    expect(decideSideBySide({ device: lots, peaks: [peak, null], cap: "auto", devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 1, limit: "unplanned" });
    expect(decideSideBySide({ device: lots, peaks: [peak], cap: 4, devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 1, limit: "trainings" });
  });

  it("on a CPU: the tiny model's plan, at most one training per core, the cores split between them", () => {
    ensureTinyModel();
    const config = validateConfig(tinyConfig(), { baseDir: process.cwd() });
    const plan = planRun(config, { kind: "cpu", name: "CPU (system memory)", memoryBytes: 24 * GIB });
    const tiny = plan.estimate.total;
    expect(tiny / 2 ** 20).toBeGreaterThan(300); // the Python runtime dominates (bench/results/estimator.md)
    const peaks = [tiny, tiny, tiny, tiny];
    // This machine's shape: 2 cores, plenty of memory: two at once, one core each.
    const two = decideSideBySide({ device: cpu(20 * GIB, 2), peaks, cap: "auto", devicesPerTraining: 1, threads: null });
    expect(two).toMatchObject({ slots: 2, limit: "cores", threads: 1 });
    expect(two.text).toMatch(/^2 at a time, one per CPU core: each needs about 0\.\d GB, with a safety margin, of the 21 GB of memory free$/);
    // 16 cores, memory for three: three, 5 threads each.
    const three = decideSideBySide({ device: cpu(3.2 * withMargin(tiny), 16), peaks, cap: "auto", devicesPerTraining: 1, threads: null });
    expect(three).toMatchObject({ slots: 3, limit: "memory", threads: 5 });
    expect(three.text).toMatch(/; the 16 CPU cores split, 5 each$/);
    // A config that sets its threads keeps them: 16 cores at 8 threads each hold two.
    expect(decideSideBySide({ device: cpu(100 * GIB, 16), peaks, cap: "auto", devicesPerTraining: 1, threads: 8 })).toMatchObject({ slots: 2, limit: "cores", threads: null, text: expect.stringMatching(/^2 at a time, 8 threads each on 16 CPU cores: /) });
    expect(decideSideBySide({ device: cpu(100 * GIB, 2), peaks, cap: "auto", devicesPerTraining: 1, threads: 2 })).toMatchObject({ slots: 1, limit: "cores", text: "one at a time: this CPU has 2 cores and each trial uses 2 threads" });
    // One core: one at a time whatever the memory.
    expect(decideSideBySide({ device: cpu(100 * GIB, 1), peaks, cap: "auto", devicesPerTraining: 1, threads: null })).toMatchObject({ slots: 1, limit: "cores" });
  });
});
