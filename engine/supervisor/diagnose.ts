/**
 * Saying plainly why a worker died when it could not say so itself. The host's out-of-memory killer
 * sends SIGKILL and leaves no traceback; a native crash leaves SIGSEGV; both look like "exit 137" or
 * "exit 139" through a shell. What we know is the signal, where the run was, and stderr's last lines.
 */
import type { ErrorInfo, Metrics, Progress } from "../protocol/messages";
import type { WorkerExit } from "./worker-process";

export interface LastKnown {
  runId: string;
  phase: string | null;
  metrics?: Metrics;
  progress?: Progress;
  checkpointStep?: number;
  /** What to tell the user to do instead of resuming (for jobs that are re-run, not resumed). */
  retry?: string;
}

/** `who` names the process that died: the worker, or one rank of a run on several devices ("The worker process of rank 1 (of 2)"). */
export function diagnoseDeath(exit: WorkerExit, last: LastKnown, who = "The worker"): ErrorInfo & { details: string[] } {
  const signal = exit.signal ?? signalFromCode(exit.code);
  const where = describePosition(last);
  const resume = last.retry ?? `Resume with \`whetstone resume ${last.runId}\`: it continues from ${
    last.checkpointStep !== undefined ? `the checkpoint at step ${last.checkpointStep}` : "the start (no checkpoint was written yet)"
  }.`;
  const details = exit.stderrTail.slice(-10).map((l) => `stderr: ${l}`);
  if (signal === "SIGKILL") {
    return {
      code: "WORKER_KILLED",
      message: `${who} was killed (SIGKILL) ${where}. Whetstone never sends SIGKILL mid-run: this is usually the operating system's out-of-memory killer (see \`dmesg\` or \`journalctl -k\` for "Out of memory"), or the process was killed by hand.`,
      hint: `${resume} If memory ran out, lower training.micro_batch_size (raising gradient_accumulation keeps the effective batch), shorten data.max_length, or turn on training.gradient_checkpointing.`,
      recoverable: true,
      details,
    };
  }
  if (signal === "SIGSEGV" || signal === "SIGBUS" || signal === "SIGABRT") {
    return {
      code: "WORKER_CRASHED",
      message: `${who} crashed in native code (${signal}) ${where}: a fault in PyTorch, a GPU driver or an extension.`,
      hint: `${resume} If it repeats at the same point, run \`whetstone doctor\` and check the GPU driver and torch build.`,
      recoverable: true,
      details,
    };
  }
  if (signal === "SIGTERM" || signal === "SIGINT" || signal === "SIGHUP") {
    return {
      code: "WORKER_STOPPED",
      message: `${who} was stopped by ${signal} ${where}.`,
      hint: resume,
      recoverable: true,
      details,
    };
  }
  return {
    code: "WORKER_EXITED",
    message: `${who} exited with code ${exit.code} ${where} without reporting an error.${lastTraceLine(exit.stderrTail)}`,
    hint: `${resume} The run's log has the worker's full output.`,
    recoverable: true,
    details,
  };
}

function describePosition(last: LastKnown): string {
  if (last.metrics) return `at step ${last.metrics.step}/${last.metrics.total_steps} (${last.phase ?? "train"})`;
  if (last.progress) return `during ${last.progress.phase} (${last.progress.message || `${last.progress.current}/${last.progress.total ?? "?"}`})`;
  return last.phase ? `during ${last.phase}` : "before it reported any progress";
}

function lastTraceLine(tail: string[]): string {
  const line = [...tail].reverse().find((l) => /^\w*(Error|Exception)\b/.test(l.trim()));
  return line ? ` Last error line: ${line.trim()}` : "";
}

function signalFromCode(code: number | null): NodeJS.Signals | null {
  // Through a shell or a container runtime a signal shows up as 128 + its number.
  const byNumber: Record<number, NodeJS.Signals> = { 137: "SIGKILL", 139: "SIGSEGV", 134: "SIGABRT", 143: "SIGTERM", 130: "SIGINT", 135: "SIGBUS" };
  return code !== null ? (byNumber[code] ?? null) : null;
}
