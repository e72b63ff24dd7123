/**
 * How many trainings fit on the device at once (a sweep's trials side by side, issue #19): each
 * one's planned peak (./estimate, as `whetstone train --plan` prints it) plus a safety margin,
 * summed, must stay under the memory the device has free now; never more than the user's cap, never
 * more than there are trainings; on a CPU never more than its cores, which the trainings split
 * between them (torch's threads), so two do not fight over the same cores.
 *
 * The margin covers the estimate's error (bench/results/estimator.md: up to 5% under on the CPU)
 * and what grows beside a training (the allocator's fragmentation, a checkpoint being written): a
 * fifth of the peak, at least 256 MiB. The free figure is read when the decision is made, so memory
 * taken by other programs counts, and the trainings already holding memory are not there yet.
 *
 * Pure over its figures (decideSideBySide), so the rule is tested with given plans and free memory;
 * freeMemory reads the machine.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism, freemem } from "node:os";
import type { Device } from "./plan";

export const MARGIN_SHARE = 0.2;
export const MARGIN_MIN_BYTES = 256 * 2 ** 20;

/** A training's planned peak with its safety margin: what it is counted as holding. */
export function withMargin(peakBytes: number): number {
  return peakBytes + Math.max(MARGIN_SHARE * peakBytes, MARGIN_MIN_BYTES);
}

export interface FreeMemory {
  kind: Device["kind"];
  name: string;
  /** Free now: nvidia-smi's memory.free of the first GPU, or the system's available memory. */
  freeBytes: number;
  /** CPU cores this process may use (the CPU's, or its affinity's). */
  cores: number;
}

/** The first GPU's free memory (the one a run on one device trains on), else the system's. */
export function freeMemory(device: Device): FreeMemory {
  const cores = availableParallelism();
  if (device.kind === "cuda") {
    const smi = spawnSync("nvidia-smi", ["--query-gpu=memory.free", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 15_000 });
    const mib = smi.status === 0 ? Number(smi.stdout.trim().split("\n")[0]) : NaN;
    // Unreadable: count the whole GPU as taken by nothing else (the plan's own figure).
    return { kind: "cuda", name: device.name, freeBytes: Number.isFinite(mib) ? mib * 2 ** 20 : device.memoryBytes, cores };
  }
  return { kind: "cpu", name: device.name, freeBytes: freemem(), cores };
}

export interface SideBySideInput {
  device: FreeMemory;
  /** Each training's planned peak in bytes (null: the plan could not estimate it). */
  peaks: (number | null)[];
  /** The user's cap: "auto" (as many as fit) or a number (1: one at a time). */
  cap: "auto" | number;
  /** Processes each training runs (training.devices): above 1 it takes the devices for itself. */
  devicesPerTraining: number;
  /** training.threads as the config sets it (null: not set, torch's default of every core). */
  threads: number | null;
}

export type SideBySideLimit = "cap" | "memory" | "cores" | "trainings" | "devices" | "unplanned";

export interface SideBySide {
  /** Trainings at once (at least 1). */
  slots: number;
  /** What held it there. */
  limit: SideBySideLimit;
  /** The largest training's planned peak plus margin (each counts as this much); null when unplanned. */
  perTrainingBytes: number | null;
  freeBytes: number;
  /** CPU threads for each training when they share a CPU (null: as the config says). */
  threads: number | null;
  /** In words, for the sweep's page, its events and the command: how many at once and why. */
  text: string;
}

const gb = (b: number) => `${(b / 1e9).toFixed(b < 10e9 ? 1 : 0)} GB`;

/** How many trainings run at once, and why (see the module's comment). */
export function decideSideBySide(input: SideBySideInput): SideBySide {
  const { device, peaks, cap, threads } = input;
  const n = peaks.length;
  const free = device.freeBytes;
  const where = device.kind === "cuda" ? `free on ${device.name}` : "of memory free";
  const one = (limit: SideBySideLimit, why: string, per: number | null = null): SideBySide => ({ slots: 1, limit, perTrainingBytes: per, freeBytes: free, threads: null, text: `one at a time: ${why}` });
  if (cap === 1) return { ...one("cap", ""), text: "one at a time, as chosen" };
  if (n <= 1) return one("trainings", n === 1 ? "there is one trial to train" : "there is nothing to train");
  if (input.devicesPerTraining > 1) return one("devices", `each trial trains on ${input.devicesPerTraining} devices`);
  if (peaks.some((p) => p === null)) return one("unplanned", "the plan could not estimate a trial's memory");
  const per = Math.max(...peaks.map((p) => withMargin(p!)));
  const fit = Math.floor(free / per);
  const need = `each needs about ${gb(per)}, with a safety margin, of the ${gb(free)} ${where}`;
  if (fit < 2) return one("memory", need, per);
  // On the CPU every training's math runs on its cores: at most one training per core (per the
  // config's threads each, when it sets them), the cores split evenly.
  const cores = device.kind === "cpu" ? Math.max(1, Math.floor(device.cores / (threads ?? 1))) : Number.POSITIVE_INFINITY;
  const limits: [SideBySideLimit, number][] = [
    ["trainings", n],
    ["memory", fit],
    ["cores", cores],
    ["cap", cap === "auto" ? Number.POSITIVE_INFINITY : cap],
  ];
  const [limit, slots] = limits.reduce((a, b) => (b[1] < a[1] ? b : a));
  if (slots < 2) return one("cores", `this CPU has ${device.cores} core${device.cores === 1 ? "" : "s"}${threads ? ` and each trial uses ${threads} threads` : ""}`, per);
  const split = device.kind === "cpu" && threads === null ? Math.max(1, Math.floor(device.cores / slots)) : null;
  const why = {
    trainings: `all ${n} trials at once`,
    memory: `${slots} at a time`,
    cores: `${slots} at a time, ${threads ? `${threads} threads each on ${device.cores} CPU cores` : "one per CPU core"}`,
    cap: `${slots} at a time (the most allowed)`,
    devices: "",
    unplanned: "",
  }[limit];
  const coresNote =
    device.kind !== "cpu" || limit === "cores" ? "" : split !== null ? `; the ${device.cores} CPU cores split, ${split} each` : `; ${threads} CPU threads each, as set`;
  return { slots, limit, perTrainingBytes: per, freeBytes: free, threads: split, text: `${why}: ${need}${coresNote}` };
}
