/**
 * `whetstone train CONFIG --plan`: the memory estimate of a run against the memory this machine
 * has, what to change when it does not fit, and a throughput guess from FLOPs when no measured
 * figure exists yet. Reads config.json only: nothing is loaded, nothing runs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import type { RunConfig } from "../config/schema";
import { parseNvidiaSmi } from "../doctor/probes";
import type { MeasuredThroughput } from "./throughput";
import { estimateMemory, flopsPerToken, shapeFromConfig, suggestFits, type MemoryEstimate, type PlanInput, type Suggestion } from "./estimate";

/** Dense bf16 tensor-core peaks (TFLOP/s) of common GPUs, for the throughput guess. */
const PEAK_TFLOPS: [RegExp, number][] = [
  [/H200|H100.*(SXM|HBM3)/i, 989],
  [/H100/i, 756],
  [/A100/i, 312],
  [/L40S/i, 362],
  [/RTX 4090/i, 165],
  [/RTX 3090/i, 71],
  [/A10G?\b/i, 125],
  [/L4\b/i, 121],
  [/T4\b/i, 65],
];
const ASSUMED_MFU = 0.4;
/** Sustained fp32 training FLOP/s per CPU core (a rough guess: ~8 GFLOP/s a core through PyTorch's kernels). */
const CPU_FLOPS_PER_CORE = 8e9;
/** Above this share of the device's memory the estimate's error margin could decide: preflight first. */
export const NEAR_LIMIT = 0.8;

export interface Device {
  kind: "cuda" | "cpu";
  name: string;
  /** One GPU's memory (the first one nvidia-smi lists), or the system's. */
  memoryBytes: number;
  /** GPUs of this machine (default 1); a CPU counts 1. */
  count?: number;
}

export interface RunPlan {
  device: Device;
  /** Processes that train together (training.devices; "auto" is every GPU): the estimate is one device's. On
   * the CPU they share the system's memory, so N of them must fit in it. */
  devices: number;
  input: PlanInput;
  estimate: MemoryEstimate;
  fits: boolean;
  /** Fits on paper, but within NEAR_LIMIT of the device's memory: worth a measured preflight step. */
  near_limit: boolean;
  suggestions: Suggestion[];
  flopsPerToken: number;
  tokensPerSecondGuess: number | null;
  /** What an earlier run of the same model and method measured on this device (replaces the guess). */
  measured: MeasuredThroughput | null;
  /** Seconds per epoch: measured tokens per epoch (same data file) over measured or guessed tokens/s. */
  secondsPerEpoch: number | null;
  /** What the data says about the run's shape, when the caller passed the data step's statistics. */
  data: DataFit | null;
}

/** The data's token statistics (the data step's report) as the plan uses them. */
export interface PlanData {
  samples: number;
  tokens_per_epoch: number;
  longest: number;
}

export interface DataFit extends PlanData {
  /** Tokens per row the run will actually see: packed rows fill up to max_length, but never beyond the data. */
  sequence_length: number;
  /** max_length is longer than the longest sample: memory and time are planned for what the data fills. */
  max_length_beyond_longest: boolean;
}

/** The GPUs nvidia-smi lists (none without the NVIDIA driver). */
export function listGpus(): ReturnType<typeof parseNvidiaSmi> {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total,driver_version,compute_cap", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 15_000 });
  return smi.status === 0 ? parseNvidiaSmi(smi.stdout) : [];
}

export function detectDevice(): Device {
  const gpus = listGpus();
  const gpu = gpus[0];
  return gpu ? { kind: "cuda", name: gpu.name, memoryBytes: gpu.memory_mib * 2 ** 20, count: gpus.length } : { kind: "cpu", name: "CPU (system memory)", memoryBytes: totalmem() };
}

export function planRun(config: RunConfig, device: Device, measured: MeasuredThroughput | null = null, data: PlanData | null = null): RunPlan {
  const shape = shapeFromConfig(JSON.parse(readFileSync(join(config.model.path, "config.json"), "utf8")) as Record<string, unknown>);
  const t = config.training;
  const half = device.kind === "cuda" && t.precision !== "fp32";
  const gpus = device.kind === "cuda" ? (device.count ?? 1) : 1;
  const devices = t.devices === "auto" ? gpus : (t.devices ?? 1);
  const input: PlanInput = {
    finetune: config.finetune === "full" ? "full" : "lora", // qlora: estimated as lora (an upper bound on memory)
    loraRank: config.lora.r,
    loraTargets: config.lora.target_modules,
    microBatchSize: t.micro_batch_size,
    maxLength: data ? sequenceLength(config, data) : config.data.max_length,
    gradientCheckpointing: t.gradient_checkpointing,
    weightBytes: config.model.dtype === "float32" || !half ? 4 : 2,
    activationBytes: half ? 2 : 4,
    device: device.kind,
    chunkedLoss: t.chunked_loss,
    method: config.method,
    precomputeReference: config.preference?.precompute_reference ?? false,
    beta: config.preference?.beta ?? null,
    ...(config.method === "grpo" ? { numGenerations: config.preference?.num_generations as number } : {}),
    devices,
    gradientAccumulation: t.gradient_accumulation,
  };
  const estimate = estimateMemory(shape, input);
  // One GPU's memory per process; on the CPU every process takes its share of the same memory.
  const budget = device.kind === "cuda" ? device.memoryBytes : device.memoryBytes / devices;
  const fits = estimate.total <= budget;
  const peak = device.kind === "cuda" ? PEAK_TFLOPS.find(([re]) => re.test(device.name))?.[1] : undefined;
  const fpt = flopsPerToken(shape, input);
  const guess = peak ? (peak * 1e12 * ASSUMED_MFU * devices) / fpt : device.kind === "cpu" ? (cpus().length * CPU_FLOPS_PER_CORE) / fpt : null;
  const tps = measured?.tokensPerSecond ?? guess;
  return {
    device,
    devices,
    input,
    estimate,
    fits,
    near_limit: fits && estimate.total > NEAR_LIMIT * budget,
    suggestions: fits ? [] : suggestFits(shape, input, budget, t.gradient_accumulation, gpus).slice(0, 4),
    flopsPerToken: fpt,
    tokensPerSecondGuess: guess,
    measured,
    // The data step's count beats an earlier run's (it is this data); either over measured, else guessed, tokens/s.
    secondsPerEpoch: tps && (data ? trainedTokens(config, data) : measured?.tokensPerEpoch) ? (data ? trainedTokens(config, data) : measured!.tokensPerEpoch!) / tps : null,
    data: data ? { ...data, sequence_length: input.maxLength, max_length_beyond_longest: config.data.max_length > data.longest } : null,
  };
}

/**
 * Tokens in one row of a micro-batch. Packed SFT rows fill up to max_length with whole samples, so a
 * row never holds more than the whole epoch's tokens; unpacked rows (and preference pairs) are padded
 * to the longest sample in the batch, at most the longest sample of the data.
 */
function sequenceLength(config: RunConfig, data: PlanData): number {
  const packed = config.method === "sft" && config.training.packing;
  const fill = packed ? data.tokens_per_epoch : data.longest + completionTokens(config);
  return Math.max(1, Math.min(config.data.max_length, fill));
}

/** grpo's completion budget (its data's tokens are the prompts only); 0 for the other methods. */
const completionTokens = (config: RunConfig): number => (config.method === "grpo" ? (config.preference?.max_completion_tokens as number) : 0);

/**
 * Tokens trained on per epoch: the data's, and for grpo each prompt's G completions (at the full
 * budget: an upper bound) with the prompt, num_iterations times. Sampling them takes time on top,
 * which the first run's measured throughput includes.
 */
function trainedTokens(config: RunConfig, data: PlanData): number {
  if (config.method !== "grpo") return data.tokens_per_epoch;
  const p = config.preference!;
  return (p.num_generations as number) * (p.num_iterations as number) * (data.tokens_per_epoch + data.samples * completionTokens(config));
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 10 * 2 ** 30 ? 2 : 1)} GiB`;

export function formatPlan(p: RunPlan): string {
  const e = p.estimate;
  const gpus = p.device.kind === "cuda" && p.devices > 1;
  const per = gpus ? " per GPU" : p.devices > 1 ? " per process" : "";
  const lines = [
    gpus ? `plan on ${p.devices} × ${p.device.name} (${gib(p.device.memoryBytes)} each)` : `plan on ${p.device.name} (${gib(p.device.memoryBytes)}${p.devices > 1 ? `, shared by ${p.devices} processes` : ""})`,
    `  parameters ${e.parameters.toLocaleString("en-US")}, trainable ${e.trainable.toLocaleString("en-US")} (${p.input.finetune}${p.input.finetune === "lora" ? ` r=${p.input.loraRank}` : ""})`,
    ...devicesLines(p),
    `  peak memory ≈ ${gib(e.total)}${per}${p.devices > 1 && !gpus ? ` (${gib(p.devices * e.total)} for the ${p.devices})` : ""}: ${Object.entries(e.bytes)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${gib(v)}`)
      .join(", ")}`,
    p.fits
      ? `  fits: yes${p.near_limit ? ` (but over ${NEAR_LIMIT * 100}% of the memory: \`whetstone train\` measures one step first)` : ""}`
      : `  fits: NO${p.devices === 1 && (p.device.count ?? 1) > 1 ? " on one GPU" : ""} (needs ${gib(p.devices > 1 && !gpus ? p.devices * e.total : e.total)}${gpus ? per : ""}, has ${gib(p.device.memoryBytes)})`,
  ];
  for (const s of p.suggestions) lines.push(`  would fit with: ${s.change} (≈ ${gib(s.total)}${s.apply.devices || gpus ? " per GPU" : per})`);
  if (!p.fits && p.suggestions.length === 0) lines.push("  no single change makes it fit: use a smaller model, or QLoRA on a GPU");
  lines.push(`  compute ${(p.flopsPerToken / 1e9).toFixed(2)} GFLOP per trained token`);
  if (p.measured) {
    const m = p.measured;
    lines.push(`  throughput measured ≈ ${Math.round(m.tokensPerSecond).toLocaleString("en-US")} tokens/s (run ${m.run}: same model and method on this device${m.sameShape ? "" : ", another micro-batch or max_length"})`);
  } else if (p.tokensPerSecondGuess)
    lines.push(`  throughput guess ≈ ${Math.round(p.tokensPerSecondGuess).toLocaleString("en-US")} tokens/s ${p.device.kind === "cpu" ? `at ~${CPU_FLOPS_PER_CORE / 1e9} GFLOP/s per CPU core` : `at ${ASSUMED_MFU * 100}% MFU`} (a measured figure replaces this after the first run)`);
  else lines.push("  throughput: no estimate yet for this device; the first run of this model and method measures it");
  const epochTokens = p.data?.tokens_per_epoch ?? p.measured?.tokensPerEpoch ?? null;
  if (p.secondsPerEpoch !== null && epochTokens !== null)
    lines.push(`  time per epoch ≈ ${duration(p.secondsPerEpoch)} (${epochTokens.toLocaleString("en-US")} tokens per epoch${p.data ? "" : " of the same data"}${p.measured ? "" : ", at the guessed throughput"})`);
  return lines.join("\n");
}

/** How the processes of a run on several devices share the model, and what a sharded run's accumulation costs. */
function devicesLines(p: RunPlan): string[] {
  if (p.devices === 1) return [];
  const what = p.device.kind === "cuda" ? `${p.devices} GPUs` : `${p.devices} processes`;
  if (p.input.finetune === "lora") return [`  ${what}: the model replicated on each, the adapter's gradients summed in one all-reduce`];
  return [`  sharded over ${what} (FSDP2): weights, gradients and AdamW state 1/${p.devices} each, plus the embeddings, output head and two decoder layers gathered whole`];
}

function duration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
