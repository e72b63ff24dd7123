/**
 * A sweep's trials side by side (issue #19): each time the sweep starts or resumes, every trial
 * still to train is planned (the engine's planRun: its peak memory on this device), the device's
 * free memory is read, and plan/side-by-side decides how many train at once (the spec's `parallel`
 * caps it). Above one, the sweep opens a share of the device lock (jobs/device-share) with that many
 * slots and the free memory as their budget, and its trials start in it; on a CPU each trial gets its
 * share of the cores (training.threads). At one, the trials queue as any run does, one after another.
 */
import type { ApiInput, ApiOutput } from "../api/contract";
import type { DeviceShare } from "../jobs/device-share";
import { decideSideBySide, freeMemory, type FreeMemory, type SideBySide } from "../plan/side-by-side";
import type { SweepStatus, Trial } from "./schema";
import { trialConfig } from "./grid";

export interface SideBySideHost {
  planRun(input: ApiInput<"planRun">): Promise<ApiOutput<"planRun">>;
  shareDevice(owner: string, slots: number, budgetBytes: number): DeviceShare;
}

export interface SweepSideBySide {
  decision: SideBySide;
  /** The share the trials start in (above one at a time). */
  share: DeviceShare | undefined;
}

/** Plan the open trials, read the device, decide; `measure` stands in for the machine's free memory (tests pass their own figures). */
export async function sideBySide(host: SideBySideHost, sweep: SweepStatus, open: readonly Trial[], measure: (device: ApiOutput<"planRun">["device"]) => FreeMemory = freeMemory): Promise<SweepSideBySide> {
  let device: ApiOutput<"planRun">["device"] | null = null;
  let devices = 1;
  const peaks: (number | null)[] = [];
  if (sweep.spec.parallel !== 1) {
    for (const t of open) {
      try {
        const plan = await host.planRun({ config: trialConfig(sweep.base_config, t.settings, sweep.spec, sweep.name, t.index), baseDir: sweep.base_dir });
        device = plan.device;
        devices = Math.max(devices, plan.devices);
        peaks.push(plan.estimate.total);
      } catch {
        peaks.push(null); // a model the estimator cannot read: that trial is not planned
      }
    }
  }
  const free = device ? measure(device) : { kind: "cpu" as const, name: "CPU", freeBytes: 0, cores: 1 };
  const threads = (sweep.base_config.training as { threads?: unknown } | undefined)?.threads;
  const decision = decideSideBySide({
    device: free,
    peaks: sweep.spec.parallel === 1 ? open.map(() => null) : peaks,
    cap: sweep.spec.parallel,
    devicesPerTraining: devices,
    threads: typeof threads === "number" ? threads : null,
  });
  const share = decision.slots > 1 ? host.shareDevice(`sweep ${sweep.id} (${decision.slots} trials at a time)`, decision.slots, decision.freeBytes) : undefined;
  return { decision, share };
}

/** The decision as the sweep's state stores it. */
export function stored(d: SideBySide): NonNullable<SweepStatus["side_by_side"]> {
  return { slots: d.slots, limit: d.limit, per_trial_bytes: d.perTrainingBytes, free_bytes: d.freeBytes, threads: d.threads, text: d.text };
}
