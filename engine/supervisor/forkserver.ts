/**
 * Workers forked from a pre-imported Python process (engine/worker/whetstone_worker/forkserver.py).
 *
 * Every job gets a fresh worker process (a CUDA error leaves a process unusable), and a fresh worker
 * spends ~6 s of CPU importing torch, transformers and peft before it can say hello. The fork server
 * pays those imports once per engine process; each job's worker is a fork of it, ready in tens of
 * milliseconds, and still a process no other job has touched. Its two connections to a private Unix
 * socket are the worker's stdio: the first carries the protocol both ways, the second its stderr.
 *
 * The server is started on the first job, shared by the engines of this process that run the same
 * interpreter with the same environment (huggingface_hub and torch read theirs at import), and leaves
 * after ten idle minutes (it holds ~350 MB of imported libraries, and no GPU memory: it never touches
 * CUDA). It never keeps Node alive. When it cannot start (a broken environment), the caller spawns
 * the worker as before, which then reports the actual problem.
 *
 * Linux only (forking after torch's imports is safe there; on macOS the frameworks torch loads are
 * not). WHETSTONE_FORK_SERVER=0 turns it off.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { WORKER_DIR } from "../paths";

const READY_TIMEOUT_MS = 180_000;
const FORK_TIMEOUT_MS = 60_000;
const FORK_SERVER_IDLE_MS = 10 * 60_000;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A forked worker with the surface of a spawned ChildProcess that WorkerProcess uses: stdin and
 * stdout are the protocol connection, stderr the log connection; `close` comes once both are closed
 * and the server has reaped the process (or is gone, when the exit status is unknown).
 */
export class ForkedChild extends EventEmitter<{ close: [number | null, NodeJS.Signals | null]; error: [Error] }> {
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket;

  constructor(
    readonly pid: number,
    protocol: Socket,
    log: Socket,
    exited: Promise<ChildExit>,
  ) {
    super();
    this.stdin = this.stdout = protocol;
    this.stderr = log;
    const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));
    void Promise.all([closed(protocol), closed(log), exited]).then(([, , exit]) => this.emit("close", exit.code, exit.signal));
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

interface Pending {
  protocol?: Socket;
  log?: Socket;
  pid?: number;
  resolve: (child: ForkedChild) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class ForkServer {
  readonly ready: Promise<boolean>;
  private readonly process: ChildProcess;
  private readonly server: Server;
  private readonly dir: string;
  private readonly socketPath: string;
  private readonly pending = new Map<string, Pending>();
  /** Exit resolvers of forked workers not yet reaped, by pid. */
  private readonly running = new Map<number, (exit: ChildExit) => void>();
  private readonly stderrTail: string[] = [];
  private alive = true;
  private isReady = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    python: string,
    env: NodeJS.ProcessEnv,
    private readonly onGone: () => void,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "whetstone-fork-"));
    this.socketPath = join(this.dir, "workers.sock");
    this.server = createServer((socket) => this.accept(socket));
    this.server.listen(this.socketPath);
    this.server.unref();
    this.process = spawn(python, ["-u", "-m", "whetstone_worker.forkserver"], {
      cwd: WORKER_DIR,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      shell: false,
      windowsHide: true,
      detached: true, // its own process group: a terminal's Ctrl-C is the engine's to handle
    });
    (this.process.stdin as unknown as Socket).unref();
    this.process.stdin!.on("error", () => {});
    createInterface({ input: this.process.stderr! }).on("line", (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
    });
    let markReady: (ok: boolean) => void = () => {};
    this.ready = new Promise<boolean>((resolve) => (markReady = resolve));
    const readyTimer = setTimeout(() => {
      markReady(false);
      this.close();
    }, READY_TIMEOUT_MS);
    readyTimer.unref();
    createInterface({ input: this.process.stdout! }).on("line", (line) => {
      let message: { type?: string; token?: string; pid?: number; code?: number | null; signal?: NodeJS.Signals | null };
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      if (message.type === "ready") {
        clearTimeout(readyTimer);
        this.isReady = true;
        markReady(true);
        this.armIdle();
        this.hold();
      } else if (message.type === "forked" && message.token && message.pid) {
        const p = this.pending.get(message.token);
        if (p) {
          p.pid = message.pid;
          this.settle(message.token);
        }
      } else if (message.type === "exited" && message.pid) {
        this.running.get(message.pid)?.({ code: message.code ?? null, signal: message.signal ?? null });
        this.running.delete(message.pid);
        this.armIdle();
        this.hold();
      }
    });
    this.process.once("error", () => this.gone(markReady));
    this.process.once("close", () => this.gone(markReady));
  }

  /** A fresh worker, or an error when the server could not fork one in time. */
  fork(): Promise<ForkedChild> {
    clearTimeout(this.idleTimer);
    const token = randomBytes(12).toString("hex");
    return new Promise<ForkedChild>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(token, new Error("the fork server did not fork a worker in time")), FORK_TIMEOUT_MS);
      this.pending.set(token, { resolve, reject, timer });
      this.hold();
      this.process.stdin!.write(JSON.stringify({ type: "fork", token, socket: this.socketPath }) + "\n");
    });
  }

  close(): void {
    clearTimeout(this.idleTimer);
    if (!this.alive) return;
    this.process.stdin!.end(); // the server exits at EOF; its running workers carry on to their end
  }

  /** The first line of a connection names its worker and role. */
  private accept(socket: Socket): void {
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("utf8");
      const nl = head.indexOf("\n");
      if (nl < 0) {
        if (head.length > 200) socket.destroy();
        return;
      }
      socket.off("data", onData);
      socket.pause();
      const rest = head.slice(nl + 1);
      if (rest) socket.unshift(Buffer.from(rest, "utf8"));
      const [token, role] = head.slice(0, nl).split(" ");
      const p = this.pending.get(token ?? "");
      if (!p || (role !== "protocol" && role !== "log") || p[role]) return void socket.destroy();
      p[role] = socket;
      this.settle(token!);
    };
    socket.on("data", onData);
    socket.on("error", () => {});
  }

  private settle(token: string): void {
    const p = this.pending.get(token);
    if (!p || p.pid === undefined || !p.protocol || !p.log) return;
    clearTimeout(p.timer);
    this.pending.delete(token);
    const exited = new Promise<ChildExit>((resolve) => this.running.set(p.pid!, resolve));
    // Both stay paused: what the worker already wrote (its hello may share a read with the first
    // line) waits for the caller's readers, which resume them. A resume here would flow it out on the
    // next tick, before the caller has attached anything, and the hello would be lost.
    p.resolve(new ForkedChild(p.pid, p.protocol, p.log, exited));
    this.hold();
  }

  /**
   * Keeps Node alive while someone waits for the server (its start, a fork, a forked worker's exit
   * status); an idle server never does. A worker's exit comes as a line from the server after its
   * sockets have closed: unheld, a process with nothing else to do (the CLI awaiting a synthesis it
   * stopped once it had its rows) exited in between, its promise never settled.
   */
  private hold(): void {
    const waiting = this.alive && (!this.isReady || this.pending.size > 0 || this.running.size > 0);
    for (const handle of [this.process, this.process.stdout as unknown as Socket, this.process.stderr as unknown as Socket]) {
      if (waiting) handle.ref();
      else handle.unref();
    }
  }

  private fail(token: string, e: Error): void {
    const p = this.pending.get(token);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(token);
    p.protocol?.destroy();
    p.log?.destroy();
    p.reject(e);
    this.hold();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.running.size > 0 || this.pending.size > 0) return;
    this.idleTimer = setTimeout(() => this.close(), FORK_SERVER_IDLE_MS);
    this.idleTimer.unref();
  }

  private gone(markReady: (ok: boolean) => void): void {
    if (!this.alive) return;
    this.alive = false;
    markReady(false);
    this.onGone();
    const why = this.stderrTail.slice(-3).join(" | ");
    for (const token of [...this.pending.keys()]) this.fail(token, new Error(`the fork server exited${why ? `: ${why}` : ""}`));
    // Its workers outlive it (they stop at their next step); their exit status is nobody's to report now.
    for (const resolve of this.running.values()) resolve({ code: null, signal: null });
    this.running.clear();
    this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const servers = new Map<string, ForkServer>();

/** Whether workers for this interpreter choice fork: Linux, the project's worker interpreter (not a
 *  test's stand-in), and not turned off. */
export function forkServerApplies(customPython: string | undefined, env: NodeJS.ProcessEnv): boolean {
  return process.platform === "linux" && customPython === undefined && env.WHETSTONE_FORK_SERVER !== "0";
}

/**
 * A worker forked by this process's fork server for (python, env), started on first use; null when
 * the server cannot start or fork (the caller then spawns the worker itself).
 */
export async function forkWorker(python: string, env: NodeJS.ProcessEnv): Promise<ForkedChild | null> {
  const key = createHash("sha256").update(JSON.stringify([python, Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])).digest("hex");
  let server = servers.get(key);
  if (!server) {
    const created: ForkServer = new ForkServer(python, env, () => {
      if (servers.get(key) === created) servers.delete(key);
    });
    server = created;
    servers.set(key, server);
  }
  if (!(await server.ready)) return null;
  try {
    return await server.fork();
  } catch {
    return null;
  }
}

/** Stop every fork server of this process (their running workers carry on). */
export function closeForkServers(): void {
  for (const server of servers.values()) server.close();
  servers.clear();
}
