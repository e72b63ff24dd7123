/** Where things live: the project's own files, the worker's Python, and the user's data folder. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder with Whetstone's package.json, found upwards (this file may be bundled elsewhere). */
export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "whetstone") return dir;
    if (dirname(dir) === dir) return resolve(start, "..");
  }
}
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
