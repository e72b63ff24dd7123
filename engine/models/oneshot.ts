/**
 * A one-shot worker command that belongs to no run (a hub download, a preflight step): start a
 * worker, send the command, relay its progress and log, resolve with `done.result`. Unlike
 * jobs/worker-task.ts nothing is written to a run folder. Aborting kills the worker.
 */
import type { Command, ErrorInfo, Progress } from "../protocol/messages";
import { WorkerProcess } from "../supervisor/worker-process";
import { diagnoseDeath } from "../supervisor/diagnose";
import { WhetstoneError } from "../util/errors";

export interface OneShotContext {
  python?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: Progress) => void;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

export async function runOneShot(
  label: string,
  command: (id: string) => Command,
  ctx: OneShotContext,
  onFailure: { cancelled: WhetstoneError; retry: string },
): Promise<Record<string, unknown>> {
  const { worker } = await WorkerProcess.start({ python: ctx.python, env: ctx.env, onOutput: (l) => ctx.onLog?.(l) });
  const id = `${label}-${Date.now()}`;
  let error: ErrorInfo | undefined;
  let result: Record<string, unknown> | undefined;
  let last: Progress | undefined;
  const onAbort = () => worker.kill("SIGKILL");
  ctx.signal?.addEventListener("abort", onAbort, { once: true });
  worker.on("event", (e) => {
    if (e.type === "progress" && e.id === id) {
      last = e;
      ctx.onProgress?.(e);
    } else if (e.type === "log") ctx.onLog?.(e.message);
    else if (e.type === "error" && (e.id === id || e.id === null)) {
      error = { code: e.code, message: e.message, hint: e.hint, recoverable: e.recoverable };
      void worker.stop();
    } else if (e.type === "done" && e.id === id) {
      result = e.result;
      void worker.stop();
    }
  });
  worker.send(command(id));
  if (ctx.signal?.aborted) onAbort();
  const exit = await worker.exited;
  ctx.signal?.removeEventListener("abort", onAbort);
  if (result) return result;
  if (ctx.signal?.aborted) throw onFailure.cancelled;
  const info = error ?? diagnoseDeath(exit, { runId: label, phase: label, progress: last, retry: onFailure.retry });
  throw new WhetstoneError({ code: info.code, message: info.message, hint: info.hint });
}
