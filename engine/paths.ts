/** Where things live: the project's own files, the worker's Python, and the user's data folder. */
import { homedir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WORKER_DIR = join(PROJECT_ROOT, "engine", "worker");

/** WHETSTONE_HOME, else the OS's per-user application-data folder. */
export function whetstoneHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WHETSTONE_HOME) return resolve(env.WHETSTONE_HOME);
  const home = homedir();
  if (process.platform === "win32") return join(env.APPDATA ?? join(home, "AppData", "Roaming"), "Whetstone");
  if (process.platform === "darwin") return join(home, "Library", "Application Support", "Whetstone");
  return join(env.XDG_DATA_HOME ?? join(home, ".local", "share"), "whetstone");
}

/** The worker's interpreter: WHETSTONE_PYTHON, else the venv `npm install` made. */
export function workerPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WHETSTONE_PYTHON) return env.WHETSTONE_PYTHON;
  const venv = join(WORKER_DIR, ".venv");
  return process.platform === "win32" ? join(venv, "Scripts", "python.exe") : join(venv, "bin", "python");
}
