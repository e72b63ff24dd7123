/**
 * First launch: the worker's Python environment does not ship in the installer (torch differs per
 * GPU vendor and is gigabytes), so the app creates it with the same setup script `npm install`
 * runs and streams its lines to a progress screen. Its stages are the script's own
 * `[whetstone setup]` lines; the last one says ready.
 *
 * The script runs in an Electron utility process (utilityProcess.fork: Node in a child process,
 * no shell), not as `ELECTRON_RUN_AS_NODE=1 electron setup.mjs`: the packaged app's RunAsNode fuse
 * is off (electron-builder.yml), so its binary cannot be turned into a plain Node by anyone.
 */
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
 * The setup script's environment: no Electron / chromium steps, and in a packaged app the worker
 * folder beside app.asar and the venv in the user's data folder (the tiny test model is for the
 * repo's tests, not made there). The hub token is not the setup's business, and neither are
 * variables that would change how Node runs it.
 */
export function setupEnv(layout: Pick<Layout, "packaged" | "workerDir" | "venvDir">, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, WHETSTONE_SKIP_ELECTRON: "1", WHETSTONE_SKIP_CHROMIUM: "1" };
  for (const v of ["HF_TOKEN", "ELECTRON_RUN_AS_NODE", "NODE_OPTIONS"]) delete env[v];
  if (layout.packaged) Object.assign(env, { WHETSTONE_WORKER_DIR: layout.workerDir, WHETSTONE_VENV: layout.venvDir, WHETSTONE_SKIP_FIXTURE: "1" });
  return env;
}

/** A child running the setup script: Electron's UtilityProcess with stdio "pipe" has this shape (and so has Node's child_process.fork with silent: true). */
export interface SetupChild {
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  on(event: "exit", listener: (code: number | null) => void): unknown;
}

/** Starts `script` with `env` in a Node child process; throws when it cannot. */
export type ForkSetup = (script: string, env: NodeJS.ProcessEnv) => SetupChild;

/** Run the setup script through `fork` and report each line; resolves true when it exited 0. */
export function runSetup(script: string, onEvent: (e: SetupEvent) => void, fork: ForkSetup, env: NodeJS.ProcessEnv = setupEnv(layout())): Promise<boolean> {
  return new Promise((resolve) => {
    let fraction = 0;
    let child: SetupChild;
    try {
      child = fork(script, env);
    } catch (e) {
      onEvent({ state: "failed", line: `Could not start the setup: ${(e as Error).message}`, fraction });
      resolve(false);
      return;
    }
    const emit = (line: string) => {
      if (!line.trim()) return;
      fraction = stageFraction(line, fraction);
      onEvent({ state: "running", line, fraction });
    };
    // Each stream is split into lines on its own (a line cut between chunks is kept until its end);
    // the result is reported once the child exited and both streams were read to their end.
    const drained = [child.stdout, child.stderr].map(
      (stream) =>
        new Promise<void>((done) => {
          if (!stream) return done();
          let partial = "";
          stream.on("data", (chunk: Buffer | string) => {
            const lines = (partial + chunk.toString()).split(/\r?\n/);
            partial = lines.pop() ?? "";
            for (const line of lines) emit(line);
          });
          const end = () => {
            emit(partial);
            partial = "";
            done();
          };
          stream.on("end", end);
          stream.on("close", end);
          stream.on("error", end);
        }),
    );
    child.on("exit", (code) => {
      const streamsEnded = Promise.all(drained);
      const grace = new Promise((r) => setTimeout(r, 2000).unref());
      void Promise.race([streamsEnded, grace]).then(() => {
        onEvent(code === 0 ? { state: "done", line: "The Python environment is ready.", fraction: 1 } : { state: "failed", line: `Setup failed (exit ${code}). The lines above say why; fix it and restart Whetstone.`, fraction });
        resolve(code === 0);
      });
    });
  });
}
