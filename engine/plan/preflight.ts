/**
 * Preflight: before a long run, one real training step (forward, backward, optimizer) at the
 * configured shape in the worker, measuring the peak (CUDA max_memory_allocated, or the process's
 * peak RSS on the CPU). A configuration that does not fit stops here with the estimator's advice
 * (suggestFits), not an hour into the run.
 */
import type { RunConfig } from "../config/schema";
import { workerDataConfig } from "../data/run-data";
import { runOneShot, type OneShotContext } from "../models/oneshot";
import { WhetstoneError } from "../util/errors";
import { PreflightResultSchema, type PreflightResult } from "../models/api-schemas";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunPlan } from "./plan";
import { shapeFromConfig, suggestFits, type Suggestion } from "./estimate";


export async function preflight(config: RunConfig, ctx: OneShotContext = {}): Promise<PreflightResult> {
  const workerConfig = { ...config, data: { ...workerDataConfig(config.data), validation: null, validation_split: 0 } };
  const result = await runOneShot("preflight", (id) => ({ v: 1, type: "preflight", id, config: workerConfig as never }), ctx, {
    cancelled: new WhetstoneError({ code: "CANCELLED", message: "The preflight step was cancelled.", hint: "Start the run again (or without --preflight)." }),
    retry: "Run `whetstone train CONFIG --preflight` again, or lower training.micro_batch_size / data.max_length.",
  });
  return PreflightResultSchema.parse(result);
}

/** When a new run measures first: asked for, or the estimate is near (or over) the device's memory. */
export function wantsPreflight(plan: Pick<RunPlan, "fits" | "near_limit">, forced: boolean): boolean {
  return forced || !plan.fits || plan.near_limit;
}

/**
 * The preflight step runs in one process. With LoRA that is one device's share of a run on several
 * (the model is replicated), but a full fine-tune on several is sharded: one process would hold the
 * whole model, so its peak says nothing about one GPU's.
 */
export function measurable(plan: Pick<RunPlan, "devices" | "input">): boolean {
  return plan.devices === 1 || plan.input.finetune !== "full";
}

/** Why a sharded run is not measured, and what stands instead: the estimate per GPU. */
export function notMeasured(plan: RunPlan): string {
  return `preflight skipped: the step runs in one process, which cannot hold a full fine-tune sharded over ${plan.devices} devices; the estimate stands (${gib(plan.estimate.total)} per device)`;
}

export function notMeasurableError(plan: RunPlan): WhetstoneError {
  return new WhetstoneError({
    code: "PREFLIGHT_UNSUPPORTED",
    message: `${notMeasured(plan).replace(/^preflight skipped: /, "The preflight step cannot measure this run: ")}.`,
    hint: "Plan it instead (`whetstone train CONFIG --plan`), or measure a LoRA run or a run on one device.",
  });
}

/** The line said before the step is measured: why, and the shape measured on which device. */
export function preflightIntro(plan: RunPlan, forced: boolean): string {
  const why = forced ? "asked for" : plan.fits ? "the estimate is near the device's memory" : "the estimate is over the device's memory";
  const n = plan.input.microBatchSize;
  const items = plan.input.method && plan.input.method !== "sft" ? `${n} pairs (${2 * n} rows)` : `${n}`; // a pair is two rows
  return `preflight (${why}): one training step of ${items} × ${plan.input.maxLength} tokens on ${plan.device.name}`;
}

/** A measured step that does not fit refuses the run: the measurement as the message, the advice as details. */
export function doesNotFitError(text: string): WhetstoneError {
  const [head = "", ...advice] = text.split("\n");
  return new WhetstoneError({
    code: "PREFLIGHT_DOES_NOT_FIT",
    message: head,
    details: advice.map((l) => l.trim()),
    hint: "Make one of the changes listed (or a smaller model) and start the run again; preflight: never skips the check.",
  });
}

/**
 * What to change when the measured step does not fit: the estimator's suggestions against the
 * device's memory scaled by how far the estimate was off (measured / estimated), so a configuration
 * the estimate under-counted gets advice that fits in reality.
 */
export function measuredAdvice(config: RunConfig, plan: RunPlan, r: PreflightResult): Suggestion[] {
  const shape = shapeFromConfig(JSON.parse(readFileSync(join(config.model.path, "config.json"), "utf8")) as Record<string, unknown>);
  const limit = r.limit_bytes ?? plan.device.memoryBytes;
  const ratio = !r.out_of_memory && r.peak_bytes ? Math.max(1, r.peak_bytes / plan.estimate.total) : 1;
  return suggestFits(shape, plan.input, (0.95 * limit) / ratio, plan.input.gradientAccumulation ?? 1, plan.device.kind === "cuda" ? (plan.device.count ?? 1) : 1).slice(0, 4);
}

const gib = (b: number | null) => (b === null ? "?" : `${(b / 2 ** 30).toFixed(2)} GiB`);

export function formatPreflight(r: PreflightResult, plan: RunPlan, advice: Suggestion[]): string {
  // Preference methods measure micro_batch_size pairs: chosen and rejected rows in one pass (and DPO's reference).
  const shape = r.rows !== undefined && r.rows !== r.micro_batch_size
    ? `${r.micro_batch_size} pairs (${r.rows} rows) × ${r.max_length} tokens`
    : `${r.micro_batch_size} × ${r.max_length} tokens`;
  const head = r.out_of_memory
    ? `preflight: out of ${r.device} memory in one step of ${shape} (estimate ${gib(plan.estimate.total)}, device ${gib(r.limit_bytes)})`
    : `preflight: one step of ${shape} peaked at ${gib(r.peak_bytes)} (${r.measure}; estimate ${gib(plan.estimate.total)}) of ${gib(r.limit_bytes)} in ${r.seconds.toFixed(1)} s`;
  if (r.fits) return `${head}: fits`;
  const lines = [`${head}: does NOT fit`];
  for (const s of advice) lines.push(`  would fit with: ${s.change} (estimate ${gib(s.total)})`);
  if (advice.length === 0) lines.push("  try: training.gradient_checkpointing, a smaller training.micro_batch_size with more gradient_accumulation, a shorter data.max_length, or a smaller model");
  return lines.join("\n");
}
