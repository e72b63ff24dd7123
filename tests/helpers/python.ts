/**
 * `python ARGS` in the worker's environment and folder, for the tests' reference computations (what
 * transformers, peft or the worker's own code make of the same input): its stdout. Forked from the warm
 * fork server where it applies (engine/supervisor/python-run.ts), so a reference costs milliseconds
 * instead of a fresh interpreter's ~6 s of torch and transformers imports. A non-zero exit throws, with
 * the command's last lines of stderr.
 */
import { runPython } from "../../engine/supervisor/python-run";

export async function workerPythonOutput(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await runPython(args, env);
  if (r.code !== 0) {
    const tail = (r.error ? `${r.error.message}\n` : "") + r.stderr.trim().split("\n").slice(-20).join("\n");
    throw new Error(`python ${args[0]} ${args[0] === "-c" ? "<code>" : (args[1] ?? "")} exited ${r.signal ?? r.code}:\n${tail}`);
  }
  return r.stdout;
}
