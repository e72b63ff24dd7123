/**
 * One worker session: start a worker, send it one command, stream that command's events, and end
 * with what happened. Training, run tasks (audit, export, generation, merge) and one-shots (hub
 * download, preflight) all go through here, so a worker is started, followed and stopped one way.
 *
 * Cancel is one way too: the protocol `cancel` first (the worker stops at its next step: training
 * writes a checkpoint, an export removes its partial files), then SIGTERM when it has not exited
 * within the grace period (the worker cancels everything and exits), then SIGKILL five seconds
 * later. `kill()` is the exception, for when the engine must stop the worker at once (its disk is
 * full: nothing more may be written).
 *
 * Events of other commands are dropped, except an `error` without an id (the worker's own
 * failure) and `log` lines, which belong to whoever started the worker.
 */
import type { Command, ErrorInfo, Hello, Progress, WorkerEvent } from "../protocol/messages";
import { WorkerProcess, type WorkerExit } from "./worker-process";
import type { Nodes } from "./launcher";

export interface SessionOptions {
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** false: spawn the worker rather than fork it from the fork server (see WorkerOptions.fork). */
  fork?: boolean;
  /** Processes that train together (see WorkerOptions.devices). */
  devices?: number;
  /** This machine's part of a run on several machines (see WorkerOptions.nodes). */
  nodes?: Nodes | null;
  /** The command to send, given its id. */
  command: (id: string) => Command;
  id: string;
  /** Every stderr line and stray stdout line of the worker. */
  onOutput?: (line: string) => void;
  /** Once the worker said hello, before the command is sent. */
  onHello?: (hello: Hello) => void;
  /** Every event of this command, and the worker's logs and id-less errors. */
  onEvent?: (event: WorkerEvent) => void;
  /** Aborting cancels (see above). */
  signal?: AbortSignal;
  /** How long a cancelled worker gets to stop on its own before SIGTERM. */
  cancelGraceMs: number;
}

export interface SessionOutcome {
  /** The command's `done`: completed or cancelled. */
  done?: { status: "completed" | "cancelled"; result: Record<string, unknown> };
  /** The command's (or the worker's) error. */
  error?: ErrorInfo;
  exit: WorkerExit;
  /** The last progress event, for diagnosing a death. */
  lastProgress?: Progress;
  /** A cancel was asked for (by the signal or `cancel()`). */
  cancelRequested: boolean;
}

const KILL_AFTER_TERM_MS = 5000;

export class WorkerSession {
  private cancelRequested = false;
  private cancelTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly worker: WorkerProcess,
    readonly hello: Hello,
    private readonly opts: SessionOptions,
  ) {}

  /** Start the worker (throws WORKER_MISSING, WORKER_START_FAILED, PROTOCOL_MISMATCH, WORKER_NO_HELLO). */
  static async start(opts: SessionOptions): Promise<WorkerSession> {
    // A run on several machines waits for the others before its hello: a cancel stops that wait.
    const helloSignal = opts.nodes ? opts.signal : undefined;
    const { worker, hello } = await WorkerProcess.start({ python: opts.python, env: opts.env, fork: opts.fork, devices: opts.devices, nodes: opts.nodes, helloSignal, onOutput: opts.onOutput });
    return new WorkerSession(worker, hello, opts);
  }

  /** Start a worker, run the command to its end, and stop the worker. */
  static async run(opts: SessionOptions): Promise<SessionOutcome> {
    return (await WorkerSession.start(opts)).run();
  }

  get pid(): number | undefined {
    return this.worker.pid;
  }

  /** Send the command and follow it until the worker has exited. */
  async run(): Promise<SessionOutcome> {
    const { worker, opts } = this;
    opts.onHello?.(this.hello);
    const outcome: Omit<SessionOutcome, "exit" | "cancelRequested"> = {};
    worker.on("event", (e) => {
      const mine = "id" in e && e.id === opts.id;
      if (e.type === "error" && (mine || e.id === null)) {
        outcome.error = { code: e.code, message: e.message, hint: e.hint, recoverable: e.recoverable };
        opts.onEvent?.(e);
        void worker.stop(); // the worker's own failure (id null) too: nothing more will come for this command
        return;
      }
      if (!mine && e.type !== "log") return;
      if (e.type === "progress") outcome.lastProgress = e;
      if (e.type === "done") {
        outcome.done = { status: e.status, result: e.result };
        void worker.stop();
      }
      opts.onEvent?.(e);
    });
    const onAbort = () => this.cancel();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const command = opts.command(opts.id); // a builder that throws (a folder gone since the request) ends the session with its error
      try {
        worker.send(command);
      } catch {
        /* the worker is gone already (killed while starting): its exit says why */
      }
      if (opts.signal?.aborted) this.cancel(); // aborted while the worker was starting: the listener came too late
      const exit = await worker.exited;
      return { ...outcome, exit, cancelRequested: this.cancelRequested };
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      if (this.cancelTimer) clearTimeout(this.cancelTimer);
      if (worker.alive) await worker.stop();
    }
  }

  /** Ask the command to stop; the worker is terminated if it has not exited within the grace period. */
  cancel(): void {
    if (this.cancelRequested) return;
    this.cancelRequested = true;
    const { worker } = this;
    try {
      worker.send({ v: 1, type: "cancel", id: `cancel-${Date.now()}`, target: this.opts.id });
    } catch {
      /* already exiting */
    }
    this.cancelTimer = setTimeout(() => {
      this.opts.onOutput?.("The worker did not stop in time after cancel; terminating it.");
      worker.kill("SIGTERM");
      setTimeout(() => worker.kill("SIGKILL"), KILL_AFTER_TERM_MS).unref();
    }, this.opts.cancelGraceMs);
    this.cancelTimer.unref();
  }

  /** Stop the worker now, without a checkpoint. */
  kill(): void {
    this.worker.kill("SIGKILL");
  }
}
