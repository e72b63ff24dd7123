/**
 * A one-shot worker command that belongs to no run (a hub download, a preflight step): one worker
 * session, its progress and log relayed, resolved with `done.result`. Unlike jobs/worker-task.ts
 * nothing is written to a run folder.
 */
import type { Command, Progress, WorkerEvent } from "../protocol/messages";
import { WorkerSession } from "../supervisor/session";
import { diagnoseDeath } from "../supervisor/diagnose";
import { WhetstoneError } from "../util/errors";

export interface OneShotContext {
  python?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: Progress) => void;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** Fork the worker from the fork server (default); false spawns it (a job that needs none of torch). */
  fork?: boolean;
  /** Every event of the command (a synthesis reads its `candidate` events here). */
  onEvent?: (e: WorkerEvent) => void;
}

/** A download does not stop between files on a cancel, so a cancelled one-shot is terminated soon. */
const ONESHOT_CANCEL_GRACE_MS = 2000;

export async function runOneShot(
  label: string,
  command: (id: string) => Command,
  ctx: OneShotContext,
  onFailure: { cancelled: WhetstoneError; retry: string },
): Promise<Record<string, unknown>> {
  const outcome = await WorkerSession.run({
    python: ctx.python,
    env: ctx.env,
    fork: ctx.fork,
    id: `${label}-${Date.now()}`,
    command,
    signal: ctx.signal,
    cancelGraceMs: ONESHOT_CANCEL_GRACE_MS,
    onOutput: (l) => ctx.onLog?.(l),
    onEvent: (e) => {
      ctx.onEvent?.(e);
      if (e.type === "progress") ctx.onProgress?.(e);
      else if (e.type === "log") ctx.onLog?.(e.message);
    },
  });
  if (outcome.done?.status === "completed") return outcome.done.result;
  if (outcome.cancelRequested) throw onFailure.cancelled;
  const info = outcome.error ?? diagnoseDeath(outcome.exit, { runId: label, phase: label, progress: outcome.lastProgress, retry: onFailure.retry });
  throw new WhetstoneError({ code: info.code, message: info.message, hint: info.hint });
}
