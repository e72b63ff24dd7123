/**
 * First launch: the worker's Python environment does not ship in the installer (torch differs per
 * GPU vendor and is gigabytes), so the app creates it with the same setup script `npm install`
 * runs, spawned without a shell, and streams its lines to a progress screen. Its stages are the
 * script's own `[whetstone setup]` lines; the last one says ready.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { layout, workerPython } from "../engine/paths";
import type { Layout } from "../engine/util/layout";

export interface SetupEvent {
  state: "running" | "done" | "failed";
  line: string;
  /** 0..1 over the setup's stages (venv, torch, requirements, fixture). */
  fraction: number;
}

const STAGES: [RegExp, number][] = [
  [/creating .*venv|Python environment: creating/i, 0.1],
  [/installing torch/i, 0.2],
  [/pinned requirements/i, 0.7],
  [/Python environment: (ready|up to date)/i, 0.9],
  [/done in/i, 1],
];

export function needsSetup(python = workerPython()): boolean {
  return !existsSync(python);
}

export function stageFraction(line: string, previous: number): number {
  for (const [re, f] of STAGES) if (re.test(line)) return Math.max(previous, f);
  return previous;
}

/**
 * The setup script's environment: Electron's binary as Node, no Electron / chromium steps, and in a
 * packaged app the worker folder beside app.asar and the venv in the user's data folder (the tiny
 * test model is for the repo's tests, not made there). The hub token is not the setup's business.
 */
export function setupEnv(layout: Pick<Layout, "packaged" | "workerDir" | "venvDir">, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ELECTRON_RUN_AS_NODE: "1", WHETSTONE_SKIP_ELECTRON: "1", WHETSTONE_SKIP_CHROMIUM: "1" };
  delete env.HF_TOKEN;
  if (layout.packaged) Object.assign(env, { WHETSTONE_WORKER_DIR: layout.workerDir, WHETSTONE_VENV: layout.venvDir, WHETSTONE_SKIP_FIXTURE: "1" });
  return env;
}

/** Run `node setup.mjs` (Electron's own binary as Node) and report each line. */
export function runSetup(script: string, onEvent: (e: SetupEvent) => void, execPath = process.execPath, env: NodeJS.ProcessEnv = setupEnv(layout())): Promise<boolean> {
  return new Promise((resolve) => {
    let fraction = 0;
    const child = spawn(execPath, [script], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      shell: false,
    });
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split(/\r?\n/)) {
        if (!line.trim()) continue;
        fraction = stageFraction(line, fraction);
        onEvent({ state: "running", line, fraction });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (e) => {
      onEvent({ state: "failed", line: `Could not start the setup: ${e.message}`, fraction });
      resolve(false);
    });
    child.on("close", (code) => {
      onEvent(code === 0 ? { state: "done", line: "The Python environment is ready.", fraction: 1 } : { state: "failed", line: `Setup failed (exit ${code}). The lines above say why; fix it and restart Whetstone.`, fraction });
      resolve(code === 0);
    });
  });
}
