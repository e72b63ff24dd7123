/**
 * `python ARGS` in the worker's environment and folder, for the tests' reference computations (what
 * transformers, peft or the worker's own code make of the same input): its stdout. Forked from the warm
 * fork server where it applies (engine/supervisor/forkserver.ts), so a reference costs milliseconds
 * instead of a fresh interpreter's ~6 s of torch and transformers imports; else spawned. A non-zero exit
 * throws, with the command's last lines of stderr.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { WORKER_DIR, workerPython } from "../../engine/paths";
import { forkServerApplies, forkWorker } from "../../engine/supervisor/forkserver";

export async function workerPythonOutput(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const python = workerPython();
  const full = { ...process.env, ...env, PYTHONUNBUFFERED: "1", PYTHONIOENCODING: "utf-8" };
  const child = forkServerApplies(undefined, full) ? await forkWorker(python, full, { run: args }) : null;
  if (!child) return (await promisify(execFile)(python, args, { cwd: WORKER_DIR, env: full, encoding: "utf8", maxBuffer: 256 << 20 })).stdout;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdout.resume();
  child.stderr.resume();
  child.stdin.on("error", () => {});
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("close", (c, s) => resolve([c, s])));
  if (code !== 0) {
    const tail = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-20).join("\n");
    throw new Error(`python ${args[0]} ${args[0] === "-c" ? "<code>" : (args[1] ?? "")} exited ${signal ?? code}:\n${tail}`);
  }
  return Buffer.concat(out).toString("utf8");
}
