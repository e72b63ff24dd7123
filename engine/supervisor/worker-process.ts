/**
 * One Python worker process: spawned without a shell, stdout parsed as protocol events, stderr kept
 * (to the run's log and a ring buffer for diagnosing deaths). One process per job: a CUDA error
 * leaves a process unusable, and a fresh process per run makes that a non-issue at the cost of a
 * few seconds of imports.
 *
 * On POSIX the worker gets its own process group (spawned detached): Ctrl-C in a terminal signals
 * the foreground group, which is the CLI alone, so the CLI decides what happens (cancel, which
 * checkpoints first) instead of the worker dying mid-step. The worker in turn watches its parent
 * (stdin EOF, parent pid) and checkpoints and exits when the engine is gone, so a detached worker
 * never outlives its engine by more than a step.
 *
 * On Linux the process is a fork of a pre-imported fork server (./forkserver.ts), which saves each job
 * the ~6 s of imports; it behaves the same in every way above (its own process group, a fresh process,
 * the same protocol over a socket pair instead of pipes). A run on several processes is a forked
 * launcher (torchrun's agent, whetstone_worker/launch.py) whose ranks are forks of it in turn.
 */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";
import { encodeCommand, parseEventLine, PROTOCOL_VERSION, type Command, type Hello, type WorkerEvent } from "../protocol/messages";
import { WhetstoneError } from "../util/errors";
import { trackWorker } from "./live";
import type { ForkedChild } from "./forkserver";
import { startWorkerChild, workerInterpreter } from "./python-run";
import { rankPids } from "./torchrun";
import type { Nodes } from "./launcher";

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
  /** The process never started (missing interpreter, …). */
  spawnError?: Error;
}

export interface WorkerOptions {
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** Every stderr line and every stdout line that is not a protocol event. */
  onOutput?: (line: string) => void;
  helloTimeoutMs?: number;
  /** false: spawn even where the fork server applies (a job that imports none of what it preloads). */
  fork?: boolean;
  /** Above 1: torchrun's agent starts that many worker processes, one per GPU (gloo on a CPU), forked from
   *  its launcher (whetstone_worker/launch.py); rank 0 speaks the protocol for all (whetstone_worker/distributed.py). */
  devices?: number;
  /** This machine's part of a run on several machines (./launcher.ts); the worker says hello once every node has joined. */
  nodes?: Nodes | null;
  /** Aborting it before the hello stops the worker (start() then rejects with how it exited): a run on several machines may wait long for the others. */
  helloSignal?: AbortSignal;
}

const STDERR_TAIL = 40;
/** How long a run on several machines waits for the others: torchrun's static rendezvous waits 600 s, then the model loads. */
const NODES_HELLO_TIMEOUT_MS = 900_000;

export class WorkerProcess extends EventEmitter<{ event: [WorkerEvent]; exit: [WorkerExit] }> {
  readonly exited: Promise<WorkerExit>;
  private readonly stderrTail: string[] = [];
  private exitInfo: WorkerExit | undefined;
  private readonly devices: number;

  private constructor(
    opts: WorkerOptions,
    private readonly child: ChildProcess | ForkedChild,
  ) {
    super();
    this.devices = opts.devices ?? 1;
    const untrack = trackWorker({ kill: (signal) => (this.kill(signal), true) });
    this.exited = new Promise((resolve) => {
      let spawnError: Error | undefined;
      this.child.once("error", (err) => {
        spawnError = err;
      });
      this.child.once("close", (code, signal) => {
        untrack();
        this.exitInfo = { code, signal, stderrTail: [...this.stderrTail], spawnError };
        this.emit("exit", this.exitInfo);
        resolve(this.exitInfo);
      });
    });
    // A worker killed while it writes (a synthesis stopped once it has its rows) can reset its end of a
    // forked worker's socket: the read error (ECONNRESET) is its death, which `close` reports. Unhandled,
    // readline rethrows it and takes the engine down.
    const ignore = () => {};
    createInterface({ input: this.child.stdout! })
      .on("line", (line) => {
        const parsed = parseEventLine(line);
        if (parsed.ok) this.emit("event", parsed.event);
        else if (line.trim()) opts.onOutput?.(parsed.unknownType ? `[worker] ignored event '${parsed.unknownType}'` : `[worker stdout] ${line}`);
      })
      .on("error", ignore);
    createInterface({ input: this.child.stderr! })
      .on("line", (line) => {
        this.stderrTail.push(line);
        if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
        opts.onOutput?.(line);
      })
      .on("error", ignore);
    // A forked worker's connections come paused (nothing it wrote is lost before the readers above exist).
    this.child.stdout!.resume();
    this.child.stderr!.resume();
    // A worker that dies while we write must not take the engine down with EPIPE.
    this.child.stdin!.on("error", () => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** Start a worker (forked, else spawned) and wait for its hello; refuse a worker that speaks another protocol. */
  static async start(opts: WorkerOptions = {}): Promise<{ worker: WorkerProcess; hello: Hello }> {
    const nodes = opts.nodes ?? null;
    const worker = new WorkerProcess(opts, await startWorkerChild({ ...opts, stdin: "pipe" }));
    const timeoutMs = opts.helloTimeoutMs ?? (nodes ? NODES_HELLO_TIMEOUT_MS : 120_000);
    const hello = await new Promise<Hello>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.kill("SIGKILL");
        reject(
          nodes
            ? new WhetstoneError({
                code: "WORKER_NO_HELLO",
                message: `The other machines did not join within ${timeoutMs / 1000} s (${nodes.nnodes} nodes meeting at ${nodes.master_addr}:${nodes.master_port}).`,
                hint: "Start the same command on every other machine with its own --node-rank, and check that they reach this address and port (a firewall?); the last lines of torchrun's output are in the run's log.",
              })
            : new WhetstoneError({ code: "WORKER_NO_HELLO", message: `The Python worker did not start within ${timeoutMs / 1000} s.`, hint: "Run `npm install` again; the last lines of its output are in the run's log." }),
        );
      }, timeoutMs);
      worker.on("event", function onEvent(e) {
        if (e.type !== "hello") return;
        clearTimeout(timer);
        worker.off("event", onEvent);
        resolve(e);
      });
      const onAbort = () => {
        worker.kill("SIGTERM"); // torchrun passes it on to its processes
        setTimeout(() => worker.kill("SIGKILL"), 5000).unref();
      };
      opts.helloSignal?.addEventListener("abort", onAbort, { once: true });
      if (opts.helloSignal?.aborted) onAbort();
      void worker.exited.then((exit) => {
        clearTimeout(timer);
        reject(workerStartError(exit, workerInterpreter(opts.python, opts.env)));
      });
      worker.on("event", function stopListening(e) {
        if (e.type !== "hello") return;
        worker.off("event", stopListening);
        opts.helloSignal?.removeEventListener("abort", onAbort);
      });
    });
    if (hello.protocol !== PROTOCOL_VERSION) {
      worker.kill("SIGKILL");
      throw new WhetstoneError({
        code: "PROTOCOL_MISMATCH",
        message: `The worker speaks protocol ${hello.protocol}; this engine speaks ${PROTOCOL_VERSION}.`,
        hint: "The engine and worker come from different versions: run `npm install` to bring them in line.",
      });
    }
    return { worker, hello };
  }

  send(command: Command): void {
    if (!this.alive) throw new WhetstoneError({ code: "WORKER_GONE", message: "The worker has exited.", hint: "Start a new job." });
    this.child.stdin!.write(encodeCommand(command));
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (!this.alive) return;
    // The launcher (torchrun's agent) passes a SIGTERM on to its ranks, but a SIGKILL ends it at once:
    // without this they would train on until they notice their parent is gone (a stuck collective never
    // does), holding the launcher's pipes, and so its exit, open meanwhile.
    if (signal === "SIGKILL" && this.devices > 1 && this.child.pid)
      for (const pid of rankPids(this.child.pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* exited meanwhile */
        }
      }
    this.child.kill(signal);
  }

  /** Ask for a clean exit, then insist. */
  async stop(graceMs = 5000): Promise<WorkerExit> {
    if (!this.alive) return this.exitInfo!;
    try {
      this.send({ v: 1, type: "shutdown", id: "shutdown" });
      this.child.stdin!.end();
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

function workerStartError(exit: WorkerExit, python: string): WhetstoneError {
  if (exit.spawnError) {
    return new WhetstoneError({
      code: "WORKER_MISSING",
      message: `Cannot start the Python worker (${python}): ${exit.spawnError.message}`,
      hint: "Run `npm install` in the Whetstone folder: it creates the worker's Python environment. WHETSTONE_PYTHON overrides the interpreter.",
    });
  }
  const tail = exit.stderrTail.slice(-8);
  const missing = tail.find((l) => l.includes("ModuleNotFoundError"));
  return new WhetstoneError({
    code: "WORKER_START_FAILED",
    message: `The Python worker exited before it was ready (${exit.signal ?? `exit code ${exit.code}`}).${missing ? ` ${missing.trim()}` : ""}`,
    hint: missing ? "A Python package is missing: run `npm install` (or `npm run setup`) to repair the worker's environment." : "See the worker's last output below.",
    details: tail,
  });
}
