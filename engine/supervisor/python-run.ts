/**
 * `python ARGS` in the worker's environment and folder, as one finished command: its exit, stdout and
 * stderr. Forked from the warm fork server where it applies (./forkserver.ts: no fresh interpreter
 * importing torch and transformers, ~2 CPU-s and as many seconds saved per command), else spawned.
 * Asynchronous either way: the engine keeps answering its clients meanwhile.
 */
import { execFile } from "node:child_process";
import { WORKER_DIR } from "../paths";
import { forkServerApplies, forkWorker } from "./forkserver";

export interface PythonResult {
  /** The exit code; null when killed by a signal or not started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Why it could not start (no such interpreter), or that it ran past its time limit. */
  error?: Error;
}

export async function runPython(python: string, args: string[], env: NodeJS.ProcessEnv, opts: { timeoutMs?: number } = {}): Promise<PythonResult> {
  const full = { ...env, PYTHONUNBUFFERED: "1", PYTHONIOENCODING: "utf-8" };
  const child = forkServerApplies(undefined, full) ? await forkWorker(python, full, { run: args }) : null;
  if (!child) {
    return new Promise((resolve) => {
      execFile(python, args, { cwd: WORKER_DIR, env: full, encoding: "utf8", maxBuffer: 256 << 20, timeout: opts.timeoutMs ?? 0 }, (error, stdout, stderr) => {
        const exit = error as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals; killed?: boolean }) | null;
        const started = !exit || typeof exit.code === "number" || exit.signal !== undefined;
        resolve({
          code: exit ? (typeof exit.code === "number" ? exit.code : null) : 0,
          signal: exit?.signal ?? null,
          stdout,
          stderr,
          ...(exit && (!started || exit.killed) ? { error: exit.killed ? new Error(`timed out after ${(opts.timeoutMs ?? 0) / 1000} s`) : exit } : {}),
        });
      });
    });
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdout.resume();
  child.stderr.resume();
  child.stdin.on("error", () => {});
  let timedOut = false;
  const timer = opts.timeoutMs ? setTimeout(() => ((timedOut = true), child.kill("SIGKILL")), opts.timeoutMs) : null;
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("close", (c, s) => resolve([c, s])));
  if (timer) clearTimeout(timer);
  return {
    code,
    signal,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
    ...(timedOut ? { error: new Error(`timed out after ${(opts.timeoutMs ?? 0) / 1000} s`) } : {}),
  };
}
