/** The terminal a command talks to (output, errors, Ctrl-C) and the exit codes it answers with. */
import { killAllWorkers } from "../supervisor/live";
import type { ProgressSink } from "./progress";
import type { Engine } from "../api/engine";

/** What a command may use of the engine: the contract (`call`) and its events (`subscribe`). */
export type Client = Pick<Engine, "call" | "subscribe">;

export interface Io {
  out: ProgressSink;
  err: (text: string) => void;
  /** Resolves on the first Ctrl-C; the second one exits at once. */
  onInterrupt: (handler: () => void) => void;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 3, cancelled: 130 } as const;

export function terminalIo(): Io {
  let interrupts = 0;
  const handlers: (() => void)[] = [];
  // The worker has its own process group, so these signals reach the CLI only: the first asks the
  // run to checkpoint and stop; a second one stops the worker at once (losing the steps since its
  // last checkpoint) and quits.
  const interrupt = (code: number) => () => {
    interrupts++;
    if (interrupts > 1 || handlers.length === 0) {
      if (killAllWorkers("SIGKILL") > 0) {
        process.stderr.write("\nStopped at once: the worker was killed without a checkpoint; `whetstone resume RUN` continues from its last one.\n");
      }
      process.exit(code);
    }
    for (const h of handlers) h();
  };
  process.on("SIGINT", interrupt(EXIT.cancelled));
  process.on("SIGTERM", interrupt(143));
  return {
    out: { isTTY: Boolean(process.stdout.isTTY), columns: process.stdout.columns, write: (t) => void process.stdout.write(t) },
    err: (t) => void process.stderr.write(t),
    onInterrupt: (h) => void handlers.push(h),
  };
}
