/**
 * Workers forked from a pre-imported Python process (engine/worker/whetstone_worker/forkserver.py).
 *
 * Every job gets a fresh worker process (a CUDA error leaves a process unusable), and a fresh worker
 * spends ~6 s of CPU importing torch, transformers and peft before it can say hello. The fork server
 * pays those imports once; each job's worker is a fork of it, ready in tens of milliseconds, and still
 * a process no other job has touched. Its two connections to this process's private Unix socket are
 * the worker's stdio: the first carries the protocol both ways, the second its stderr.
 *
 * One server is shared by every engine of this user (the app, each CLI command, each test file) that
 * runs the same interpreter and worker code with the same import-time environment (huggingface_hub and
 * torch read theirs at import): those three name its socket, in a directory only this user can enter.
 * The first engine to need it starts it, detached; the others connect. The environment that libraries
 * do not read at import (the engine's own variables, a test runner's) goes with each fork request, so
 * every worker still runs in its own engine's environment. The server leaves after ten minutes with no
 * engine connected and no worker running (it holds ~350 MB of imported libraries, and no GPU memory:
 * it never touches CUDA), and never keeps Node alive. When it cannot start (a broken environment), the
 * caller spawns the worker as before, which then reports the actual problem.
 *
 * Linux only (forking after torch's imports is safe there; on macOS the frameworks torch loads are
 * not). WHETSTONE_FORK_SERVER=0 turns it off.
 */
import { spawn } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { WORKER_DIR } from "../paths";

const READY_TIMEOUT_MS = 180_000;
const FORK_TIMEOUT_MS = 60_000;
const FORK_SERVER_IDLE_S = 600;
/** forkserver.py's exit code when another server holds the socket's lock (it lost a race to start). */
const ANOTHER_SERVER = 3;
/**
 * Variables no library reads at import: they differ between engines that may share a server (each
 * CLI command's, a test file's: npm's and Vite's own, the PATH npx prepends to) and go with each fork
 * request instead of naming the server; the worker and what it starts still see them. The hub token
 * too: huggingface_hub reads it at each call, and it is kept out of a long-lived process's environment.
 * So are the two variables Node libraries set in their own process when first imported (onnxruntime-node,
 * sharp): an engine's environment before and after its first judge differed only by them, and each
 * started a server of its own (4 of 11 in a test run). Anything else (HF_*, TORCH*, OMP_*, CUDA_*, LD_*,
 * PYTHON*, HOME, …) names it: a worker must import as it would alone.
 */
const PER_FORK = /^(WHETSTONE_(?!FORK_SERVER$)|VITEST|TINYPOOL|npm_|NODE_|INIT_CWD$|OLDPWD$|PWD$|SHLVL$|_$|COLUMNS$|LINES$|TERM|COLOR$|EDITOR$|PATH$|BASE_URL$|DEV$|PROD$|MODE$|SSR$|FORCE_TTY$|HF_TOKEN$|HUGGING_FACE_HUB_TOKEN$|ORT_DISABLE_TELEMETRY$|VIPSHOME$)/;
/**
 * Read at import by huggingface_hub, but used only to reach the hub: a worker that is offline (the
 * default: HF_HUB_OFFLINE unset is "1" in the worker) never uses them, so for it they go with the fork
 * and name no server. A mirror's address (HF_ENDPOINT) set for the engine would otherwise start a
 * second server beside the offline one for training, merges and generation, which never download.
 */
const ONLINE_ONLY = /^HF_ENDPOINT$/;

/** huggingface_hub's reading of a boolean variable (constants._is_true). */
const isTrue = (value: string): boolean => ["1", "ON", "YES", "TRUE"].includes(value.toUpperCase());

/** `env` without what an offline worker never uses (ONLINE_ONLY): the server's own environment, so that it imports the same whoever starts it. */
function serverEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!isTrue(env.HF_HUB_OFFLINE ?? "1")) return env;
  return Object.fromEntries(Object.entries(env).filter(([k]) => !ONLINE_ONLY.test(k)));
}

/** The variables of `env` that name its fork server: what libraries read at import and use. */
function importTimeEnv(env: NodeJS.ProcessEnv): [string, string][] {
  return Object.entries(serverEnv(env))
    .filter((e): e is [string, string] => e[1] !== undefined && !PER_FORK.test(e[0]))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

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
  /** Its exit, when the server reported it before both its connections were read (settle uses it). */
  exit?: ChildExit;
  resolve: (child: ForkedChild) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** This process's end of a shared fork server: its connection, and the socket its workers connect back to. */
class ForkServer {
  readonly ready: Promise<boolean>;
  private control: Socket | undefined;
  private readonly workers: Server;
  private readonly dir: string;
  private readonly workersPath: string;
  private readonly pending = new Map<string, Pending>();
  /** Exit resolvers of forked workers not yet reaped, by pid. */
  private readonly running = new Map<number, (exit: ChildExit) => void>();
  private alive = true;
  private isReady = false;

  constructor(
    private readonly python: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly socketPath: string,
    private readonly onGone: () => void,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "whetstone-fork-"));
    this.workersPath = join(this.dir, "workers.sock");
    this.workers = createServer((socket) => this.accept(socket));
    this.workers.listen(this.workersPath);
    this.workers.unref();
    this.ready = this.connect();
  }

  /** Connects to the shared server, starting it when nobody has (or its socket is stale). */
  private async connect(): Promise<boolean> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let started: Promise<number | null> | undefined;
    let startedExit: number | null | undefined;
    while (Date.now() < deadline) {
      const socket = await new Promise<Socket | null>((resolve) => {
        const s = connect(this.socketPath);
        s.once("connect", () => resolve(s));
        s.once("error", () => resolve(null));
      });
      if (socket) return this.attach(socket, deadline);
      if (startedExit !== undefined && startedExit !== ANOTHER_SERVER) break; // ours died starting
      if (!started) {
        started = this.spawnServer();
        void started.then((code) => (startedExit = code));
      }
      await new Promise((r) => setTimeout(r, 100)); // held: a CLI waiting for its first worker has nothing else
    }
    this.gone();
    return false;
  }

  /** The server, detached (its own session: it outlives this process), its output in a log beside its socket. */
  private spawnServer(): Promise<number | null> {
    const log = openSync(`${this.socketPath}.log`, "a");
    try {
      const child = spawn(this.python, ["-u", "-m", "whetstone_worker.forkserver", "--listen", this.socketPath, "--idle", String(FORK_SERVER_IDLE_S)], {
        cwd: WORKER_DIR,
        env: this.env,
        stdio: ["ignore", log, log],
        shell: false,
        windowsHide: true,
        detached: true,
      });
      child.unref();
      return new Promise((resolve) => {
        child.once("error", () => resolve(null));
        child.once("exit", (code) => resolve(code));
      });
    } finally {
      closeSync(log);
    }
  }

  private attach(socket: Socket, deadline: number): Promise<boolean> {
    this.control = socket;
    socket.on("error", () => {});
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
        socket.destroy();
      }, Math.max(0, deadline - Date.now()));
      timer.unref();
      createInterface({ input: socket })
        .on("line", (line) => {
          let message: { type?: string; token?: string; pid?: number; code?: number | null; signal?: NodeJS.Signals | null };
          try {
            message = JSON.parse(line);
          } catch {
            return;
          }
          if (message.type === "ready") {
            clearTimeout(timer);
            this.isReady = true;
            resolve(true);
            this.hold();
          } else if (message.type === "forked" && message.token && message.pid) {
            const p = this.pending.get(message.token);
            if (p) {
              p.pid = message.pid;
              this.settle(message.token);
            }
          } else if (message.type === "exited" && message.pid) {
            const exit = { code: message.code ?? null, signal: message.signal ?? null };
            const resolve = this.running.get(message.pid);
            if (resolve) resolve(exit);
            // A quick child can end before this process has read the first lines of its connections (a
            // busy event loop reads this line first): kept for settle(), or that exit was lost and the
            // child's `close` never came (a test's forked reference hung until its time limit).
            else for (const p of this.pending.values()) if (p.pid === message.pid) p.exit = exit;
            this.running.delete(message.pid);
            this.hold();
          }
        })
        .on("error", () => {});
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(false);
        this.gone();
      });
      this.hold();
    });
  }

  /** A fresh worker in environment `env` (or what `what` asks for), or an error when the server could not fork one in time. */
  fork(env: Record<string, string>, what: ForkWhat): Promise<ForkedChild> {
    const token = randomBytes(12).toString("hex");
    return new Promise<ForkedChild>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(token, new Error("the fork server did not fork a worker in time")), FORK_TIMEOUT_MS);
      this.pending.set(token, { resolve, reject, timer });
      this.hold();
      this.control!.write(JSON.stringify({ type: "fork", token, socket: this.workersPath, env, ...(what.launch ? { launch: what.launch } : {}), ...(what.run ? { run: what.run } : {}) }) + "\n");
    });
  }

  /** Leave the shared server (it stays for the other engines, and leaves when idle); running workers carry on. */
  close(): void {
    this.control?.end();
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
    const exited = p.exit ? Promise.resolve(p.exit) : new Promise<ChildExit>((resolve) => this.running.set(p.pid!, resolve));
    // Both stay paused: what the worker already wrote (its hello may share a read with the first
    // line) waits for the caller's readers, which resume them. A resume here would flow it out on the
    // next tick, before the caller has attached anything, and the hello would be lost.
    p.resolve(new ForkedChild(p.pid, p.protocol, p.log, exited));
    this.hold();
  }

  /**
   * Keeps Node alive while someone waits for the server (its start, a fork, a forked worker's exit
   * status); an idle connection never does. A worker's exit comes as a line from the server after its
   * sockets have closed: unheld, a process with nothing else to do (the CLI awaiting a synthesis it
   * stopped once it had its rows) exited in between, its promise never settled.
   */
  private hold(): void {
    const waiting = this.alive && (!this.isReady || this.pending.size > 0 || this.running.size > 0);
    if (waiting) this.control?.ref();
    else this.control?.unref();
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

  private gone(): void {
    if (!this.alive) return;
    this.alive = false;
    this.onGone();
    let why = "";
    try {
      why = readTail(`${this.socketPath}.log`);
    } catch {
      /* no log */
    }
    for (const token of [...this.pending.keys()]) this.fail(token, new Error(`the fork server is gone${why ? `: ${why}` : ""}`));
    // Its workers outlive it (they stop at their next step); their exit status is nobody's to report now.
    for (const resolve of this.running.values()) resolve({ code: null, signal: null });
    this.running.clear();
    this.workers.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readTail(file: string): string {
  return readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ");
}

/**
 * This user's directory for fork server sockets: $XDG_RUNTIME_DIR/whetstone, else TMPDIR/whetstone-UID;
 * made 0700, and refused (no fork server) unless it is a real directory of ours that nobody else can enter.
 */
function socketDir(): string | null {
  const uid = process.getuid?.() ?? 0;
  const dir = process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, "whetstone") : join(tmpdir(), `whetstone-${uid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0 ? dir : null;
  } catch {
    return null;
  }
}

/** The worker's code as its files' paths, sizes and times: a changed worker gets a new server. */
function workerCodeStamp(): string {
  const hash = createHash("sha256");
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "__pycache__") walk(path);
      else if (entry.name.endsWith(".py")) {
        const st = statSync(path);
        hash.update(`${relative(WORKER_DIR, path)}:${st.size}:${st.mtimeMs}\n`);
      }
    }
  };
  walk(join(WORKER_DIR, "whetstone_worker"));
  return hash.digest("hex");
}

let codeStamp: string | undefined;

/** Which server a worker for (python, env) comes from: its socket, and the environment that goes with each fork. */
export function forkServerFor(python: string, env: NodeJS.ProcessEnv): { socket: string; forkEnv: Record<string, string> } | null {
  const dir = socketDir();
  if (!dir) return null;
  codeStamp ??= workerCodeStamp();
  let interpreter = python;
  try {
    interpreter = `${python}:${statSync(python).mtimeMs}`; // a recreated venv is another interpreter
  } catch {
    /* spawning will say what is wrong */
  }
  const key = createHash("sha256")
    .update(JSON.stringify([interpreter, codeStamp, importTimeEnv(env)]))
    .digest("hex")
    .slice(0, 24);
  const forkEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  return { socket: join(dir, `fork-${key}.sock`), forkEnv };
}

const servers = new Map<string, ForkServer>();

/** Whether workers for this interpreter choice fork: Linux, the project's worker interpreter (not a
 *  test's stand-in), and not turned off. */
export function forkServerApplies(customPython: string | undefined, env: NodeJS.ProcessEnv): boolean {
  return process.platform === "linux" && customPython === undefined && env.WHETSTONE_FORK_SERVER !== "0";
}

/** What a fork runs instead of the worker: the launcher of a run on several processes, or a one-off command. */
export interface ForkWhat {
  /** torchrun's options (./launcher.ts): the fork is the launcher, and its ranks are forks of it, each skipping the imports too. */
  launch?: string[] | null;
  /** The interpreter's arguments (`-c CODE …`, `-m MODULE …`): the fork runs that as `python ARGS` would, in the worker's folder, its stdout on `stdout`. */
  run?: string[];
}

/**
 * A worker forked by the shared fork server for (python, env), started on first use; null when the
 * server cannot start or fork (the caller then spawns the worker itself).
 */
export async function forkWorker(python: string, env: NodeJS.ProcessEnv, what: ForkWhat = {}): Promise<ForkedChild | null> {
  const target = forkServerFor(python, env);
  if (!target) return null;
  const key = target.socket;
  let server = servers.get(key);
  if (!server) {
    const created: ForkServer = new ForkServer(python, serverEnv(env), target.socket, () => {
      if (servers.get(key) === created) servers.delete(key);
    });
    server = created;
    servers.set(key, server);
  }
  if (!(await server.ready)) return null;
  try {
    return await server.fork(target.forkEnv, what);
  } catch {
    return null;
  }
}

/** Leave every fork server this process uses (they stay for other engines; running workers carry on). */
export function closeForkServers(): void {
  for (const server of servers.values()) server.close();
  servers.clear();
}
