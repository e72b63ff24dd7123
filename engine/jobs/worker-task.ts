/**
 * A one-shot worker command on behalf of a run (the memorization audit now; generation,
 * evaluation and export use the same path): take the device lock, start a worker, send one
 * command, relay its progress, and resolve with the `done` event's result. Unlike training, a task
 * leaves the run's state alone: its output is a report, written by the caller only once complete,
 * so an interrupted task never leaves a half report behind.
 */
import type { EngineEvent } from "../api/events";
import type { Command, ErrorInfo, Progress, WorkerEvent } from "../protocol/messages";
import type { RunStore } from "../runs/store";
import { WorkerProcess } from "../supervisor/worker-process";
import { diagnoseDeath } from "../supervisor/diagnose";
import { WhetstoneError } from "../util/errors";
import { isDiskFull } from "../util/disk";
import type { DeviceLock } from "./device-lock";

export interface TaskContext {
  store: RunStore;
  publish: (event: EngineEvent) => void;
  python?: string;
  workerEnv?: NodeJS.ProcessEnv;
  deviceLock?: DeviceLock;
  /** Every event of this task's command (generation streams `token` events through here). */
  onEvent?: (event: WorkerEvent) => void;
}

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
  const cancelled = () => new WhetstoneError({ code: "CANCELLED", message: `The ${label} was cancelled.`, hint: `Run it again with \`whetstone ${label} ${runId}\`.` });
  if (signal?.aborted) throw cancelled();
  const release = ctx.deviceLock
    ? await ctx.deviceLock
        .acquire(`${runId} (${label})`, { signal, onWait: (o) => log(`waiting for run ${o.runId} (pid ${o.pid}): one job at a time on this machine`) })
        .catch(() => {
          throw cancelled();
        })
    : () => {};
  try {
    const { worker, hello } = await WorkerProcess.start({ python: ctx.python, env: ctx.workerEnv, onOutput: log });
    log(`worker ${hello.worker_version} (pid ${hello.pid}) on ${hello.device.kind}: ${hello.device.name}`);
    const id = `${runId}#${label}-${Date.now()}`;
    let lastProgress: Progress | undefined;
    let error: ErrorInfo | undefined;
    let result: Record<string, unknown> | undefined;
    let status: "completed" | "cancelled" | undefined;
    const onAbort = () => {
      try {
        worker.send({ v: 1, type: "cancel", id: `cancel-${Date.now()}`, target: id });
      } catch {
        /* already gone */
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.on("event", (e) => {
      if ("id" in e && e.id === id) ctx.onEvent?.(e);
      if (e.type === "progress" && e.id === id) {
        lastProgress = e;
        ctx.publish({ type: "progress", runId, progress: { phase: e.phase, current: e.current, total: e.total, unit: e.unit, elapsed_s: e.elapsed_s, eta_s: e.eta_s, message: e.message } });
      } else if (e.type === "log") log(`[${e.level}] ${e.message}`);
      else if (e.type === "error" && (e.id === id || e.id === null)) {
        error = { code: e.code, message: e.message, hint: e.hint, recoverable: e.recoverable };
        void worker.stop();
      } else if (e.type === "done" && e.id === id) {
        status = e.status;
        result = e.result;
        void worker.stop();
      }
    });
    worker.send(command(id));
    if (signal?.aborted) onAbort(); // aborted while the worker was starting: the listener came too late
    const exit = await worker.exited;
    signal?.removeEventListener("abort", onAbort);
    if (status === "completed" && result) return result;
    if (status === "cancelled") throw cancelled();
    const info = error ?? diagnoseDeath(exit, { runId, phase: label, progress: lastProgress, retry: `Run it again with \`whetstone ${label} ${runId}\`.` });
    log(`failed: ${info.code}: ${info.message}`);
    throw new WhetstoneError({ code: info.code, message: info.message, hint: info.hint });
  } finally {
    release();
  }
}
