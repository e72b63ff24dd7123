/**
 * A one-shot worker command on behalf of a run (audit, export, generation, merge, benchmark): take the device
 * lock, run one worker session, relay its progress and log to the run, and resolve with the `done`
 * event's result. Unlike training, a task leaves the run's state alone: its output is a report,
 * written by the caller only once complete, so an interrupted task never leaves a half report behind.
 */
import type { EngineEvent } from "../api/events";
import { helloDevice, type Command, type WorkerEvent } from "../protocol/messages";
import type { RunStore } from "../runs/store";
import { WorkerSession } from "../supervisor/session";
import { diagnoseDeath } from "../supervisor/diagnose";
import { WhetstoneError } from "../util/errors";
import { isDiskFull } from "../util/disk";
import { holderName, type DeviceLock } from "./device-lock";

export interface TaskContext {
  store: RunStore;
  publish: (event: EngineEvent) => void;
  python?: string;
  workerEnv?: NodeJS.ProcessEnv;
  deviceLock?: DeviceLock;
  /** Fork the worker from the fork server (default); false spawns it (a job in an environment of its own: a push needs none of torch; a benchmark's online environment would start a second fork server). */
  fork?: boolean;
  /** Every event of this task's command (generation streams `token` events through here). */
  onEvent?: (event: WorkerEvent) => void;
}

/** How long a cancelled task gets to clean up (an export removes its partial files) before SIGTERM. */
const TASK_CANCEL_GRACE_MS = 60_000;

export async function runWorkerTask(
  ctx: TaskContext,
  runId: string,
  label: string,
  command: (id: string) => Command,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  const log = (line: string) => {
    try {
      ctx.store.appendLog(runId, `[${label}] ${line}`);
    } catch (e) {
      if (!isDiskFull(e)) throw e; // the log is best effort: a full disk surfaces where the task writes its result
    }
    ctx.publish({ type: "log", runId, line: `[${label}] ${line}` });
  };
  const retry = `Run it again with \`whetstone ${label} ${runId}\`.`;
  const cancelled = () => new WhetstoneError({ code: "CANCELLED", message: `The ${label} was cancelled.`, hint: retry });
  if (signal?.aborted) throw cancelled();
  const release = ctx.deviceLock
    ? await ctx.deviceLock
        .acquire(`${runId} (${label})`, { signal, onWait: (o) => log(`waiting for ${holderName(o)} (pid ${o.pid}): one job at a time on this machine`) })
        .catch(() => {
          throw cancelled();
        })
    : () => {};
  try {
    const outcome = await WorkerSession.run({
      python: ctx.python,
      env: ctx.workerEnv,
      fork: ctx.fork,
      id: `${runId}#${label}-${Date.now()}`,
      command,
      signal,
      cancelGraceMs: TASK_CANCEL_GRACE_MS,
      onOutput: log,
      onHello: (hello) => log(`worker ${hello.worker_version} (pid ${hello.pid}) on ${helloDevice(hello)}`),
      onEvent: (e) => {
        ctx.onEvent?.(e);
        if (e.type === "progress") {
          ctx.publish({ type: "progress", runId, progress: { phase: e.phase, current: e.current, total: e.total, unit: e.unit, elapsed_s: e.elapsed_s, eta_s: e.eta_s, message: e.message } });
        } else if (e.type === "log") log(`[${e.level}] ${e.message}`);
      },
    });
    if (outcome.done?.status === "completed") return outcome.done.result;
    if (outcome.done?.status === "cancelled") throw cancelled();
    const info = outcome.error ?? diagnoseDeath(outcome.exit, { runId, phase: label, progress: outcome.lastProgress, retry });
    log(`failed: ${info.code}: ${info.message}`);
    throw new WhetstoneError({ code: info.code, message: info.message, hint: info.hint });
  } finally {
    release();
  }
}
