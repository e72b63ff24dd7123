/**
 * Starting the worker's Python, the one place that does: the engine's worker (worker-process.ts), a
 * follower node's launcher (follower.ts) and one-off commands (runPython: the machine check's probe,
 * the tests' reference computations). Forked from the warm fork server where it applies (./forkserver.ts:
 * no fresh interpreter importing torch and transformers), else spawned in its own process group.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { WORKER_DIR, workerPython } from "../paths";
import { forkServerApplies, forkWorker, type ForkedChild } from "./forkserver";
import { launchOptions, workerArgs, type Nodes } from "./launcher";

export interface ChildOptions {
  /** The interpreter; default the worker environment's (or WHETSTONE_PYTHON's). A given one (a test's stand-in) is spawned, never forked. */
  python?: string;
  /** Over the engine's environment. */
  env?: NodeJS.ProcessEnv;
  /** false: spawn even where the fork server applies. */
  fork?: boolean;
  devices?: number;
  nodes?: Nodes | null;
  /** Instead of the worker, `python ARGS` (`-c CODE …`, `-m MODULE …`) in the worker's folder and environment. */
  run?: string[];
  /** "pipe": the protocol is spoken on stdin; "ignore": nothing is written to it. */
  stdin: "pipe" | "ignore";
}

/** The interpreter a worker started with `python` and `env` runs: the given one, else WHETSTONE_PYTHON or the worker environment's. */
export function workerInterpreter(python: string | undefined, env: NodeJS.ProcessEnv = {}): string {
  return python ?? workerPython({ ...process.env, ...env });
}

/**
 * The worker's process (or the launcher of a run on several processes, or a one-off command), its
 * environment the engine's with `env` over it, unbuffered and in UTF-8. Spawned, it has its own
 * process group on POSIX (Ctrl-C reaches the CLI, which decides); on Windows `detached` would open a
 * console instead.
 */
export async function startWorkerChild(opts: ChildOptions): Promise<ChildProcess | ForkedChild> {
  const env = { ...process.env, ...opts.env, PYTHONUNBUFFERED: "1", PYTHONIOENCODING: "utf-8" };
  const python = workerInterpreter(opts.python, env);
  const devices = opts.devices ?? 1;
  const nodes = opts.nodes ?? null;
  const what = opts.run ? { run: opts.run } : { launch: launchOptions(devices, nodes) };
  const forked = opts.fork !== false && forkServerApplies(opts.python, env) ? await forkWorker(python, env, what) : null;
  return (
    forked ??
    spawn(python, opts.run ?? workerArgs(devices, nodes), {
      cwd: WORKER_DIR,
      env,
      stdio: [opts.stdin, "pipe", "pipe"],
      shell: false,
      windowsHide: true,
      detached: process.platform !== "win32",
    })
  );
}

export interface PythonResult {
  /** The exit code; null when killed by a signal or not started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Why it could not start (no such interpreter), or that it ran past its time limit. */
  error?: Error;
}

/** `python ARGS` as one finished command: its exit, stdout and stderr. Never throws. */
export async function runPython(args: string[], env: NodeJS.ProcessEnv = {}, opts: { timeoutMs?: number } = {}): Promise<PythonResult> {
  const child = await startWorkerChild({ env, run: args, stdin: "ignore" });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (b: Buffer) => out.push(b));
  child.stderr!.on("data", (b: Buffer) => err.push(b));
  child.stdout!.resume(); // a fork's connections come paused
  child.stderr!.resume();
  child.stdin?.on("error", () => {});
  let error: Error | undefined;
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        error = new Error(`timed out after ${opts.timeoutMs! / 1000} s`);
        child.kill("SIGKILL");
      }, opts.timeoutMs)
    : null;
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once("error", (e: Error) => {
      error ??= e; // not started: no such interpreter
      resolve([null, null]);
    });
    child.once("close", (c: number | null, s: NodeJS.Signals | null) => resolve([c, s]));
  });
  if (timer) clearTimeout(timer);
  return { code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), ...(error ? { error } : {}) };
}
