/** The `whetstone` CLI as a user runs it, for the fault tests: spawned in its own process group
 *  (as a terminal's foreground job is), with its output collected and helpers to wait on the run. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../engine/paths";
import { RunStore, isAlive } from "../../engine/runs/store";
import { TINY_DATA, TINY_MODEL } from "../helpers/fixture";
import { HANG_MS } from "../helpers/limits";

export const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");

export interface Cli {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

export function startCli(args: string[], home: string): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: home }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (d) => (text += d));
  child.stderr!.on("data", (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { child, out: () => text, exited };
}

export function runCli(args: string[], home: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = HANG_MS, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The only run in `home` (the CLI printed its id first). */
export const onlyRun = (home: string) => new RunStore(home).list()[0];

/** Resolves when the run has recorded at least `step` steps of metrics. */
export const stepReached = (home: string, id: string, step: number) =>
  until(`step ${step} of ${id}`, () => new RunStore(home).readMetrics(id).length >= step || undefined);

export const waitGone = (pid: number, timeoutMs = 120_000) => until(`pid ${pid} to exit`, () => !isAlive(pid) || undefined, timeoutMs, 50);

/** The fault tests' config file: the tiny model, a few steps, one checkpoint only at the end unless asked. */
export function writeConfig(dir: string, name: string, training: Record<string, unknown>): string {
  const path = join(dir, `${name}.yaml`);
  const lines = Object.entries({ micro_batch_size: 2, learning_rate: 3e-3, epochs: 1, ...training }).map(([k, v]) => `  ${k}: ${v}`);
  writeFileSync(path, `name: ${name}\nmodel:\n  path: ${TINY_MODEL}\ndata:\n  train: ${TINY_DATA}\n  max_length: 128\nlora: {r: 4, alpha: 8}\ntraining:\n${lines.join("\n")}\n`);
  return path;
}
