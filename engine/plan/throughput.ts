/**
 * Measured throughput for the plan. The FLOPs guess (GPU peak × an assumed MFU) is only a prior:
 * once a run of the same model, method and fine-tuning kind has finished on this device, its
 * measured tokens/s replaces the guess; and when that run trained on the same data file at the same
 * max_length, its tokens per epoch turn the throughput into a time per epoch.
 */
import { resolve } from "node:path";
import type { RunConfig } from "../config/schema";
import type { RunStore } from "../runs/store";
import type { Device } from "./plan";

export interface MeasuredThroughput {
  /** The run the figure comes from. */
  run: string;
  /** Median tokens/s over the run's steps after the first fifth (warm-up, compilation, caches). */
  tokensPerSecond: number;
  /** Same micro-batch and max_length as the planned run (otherwise the figure is rougher). */
  sameShape: boolean;
  /** Tokens in one epoch of the same data file at the same max_length; null for other data. */
  tokensPerEpoch: number | null;
}

export function measuredThroughput(store: RunStore, config: RunConfig, device: Device): MeasuredThroughput | null {
  const candidates = store.list().filter((s) => {
    if (s.state !== "completed" || !s.device) return false;
    const [kind, ...name] = s.device.split(": ");
    if (kind !== device.kind || (device.kind === "cuda" && name.join(": ") !== device.name)) return false;
    const c = safeConfig(store, s.id);
    return c !== null && resolve(c.model.path) === resolve(config.model.path) && c.method === config.method && c.finetune === config.finetune;
  });
  const shape = (c: RunConfig) => c.training.micro_batch_size === config.training.micro_batch_size && c.data.max_length === config.data.max_length;
  // Newest first (store.list order); a run of the same shape wins over a newer one of another shape.
  const pick = candidates.find((s) => shape(store.config(s.id))) ?? candidates[0];
  if (!pick) return null;
  const rows = store.readMetrics(pick.id).filter((m) => typeof m.tokens_per_s === "number" && m.tokens_per_s > 0);
  if (rows.length === 0) return null;
  const steady = rows.slice(Math.floor(rows.length / 5)).map((m) => m.tokens_per_s as number);
  const used = store.config(pick.id);
  const last = rows.at(-1)!;
  const sameData = resolve(used.data.train) === resolve(config.data.train) && used.data.max_length === config.data.max_length;
  const epoch = typeof last.epoch === "number" ? last.epoch : null;
  const tokens = typeof last.tokens === "number" ? last.tokens : null;
  return {
    run: pick.id,
    tokensPerSecond: median(steady),
    sameShape: shape(used),
    tokensPerEpoch: sameData && epoch && tokens ? Math.round(tokens / epoch) : null,
  };
}

function safeConfig(store: RunStore, id: string): RunConfig | null {
  try {
    return store.config(id);
  } catch {
    return null; // a run folder from another version or half-written: not evidence
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
