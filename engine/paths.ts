/** Where things live: the project's own files, the worker's Python, and the user's data folder. */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { appLayout, venvPython, type Layout } from "./util/layout";

/** The folder with Whetstone's package.json, found upwards (this file may be bundled elsewhere). */
export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "whetstone") return dir;
    if (dirname(dir) === dir) return resolve(start, "..");
  }
}

/**
 * Dev checkout or packaged app (engine/util/layout.ts). A packaged app's Electron main sets
 * WHETSTONE_USER_DATA to app.getPath("userData") before anything asks for the venv.
 */
export function layout(env: NodeJS.ProcessEnv = process.env): Layout {
  return appLayout({ projectRoot: PROJECT_ROOT, userData: env.WHETSTONE_USER_DATA || whetstoneHome(env) });
}
export const WORKER_DIR = layout().workerDir;

/** WHETSTONE_HOME, else the OS's per-user application-data folder. */
export function whetstoneHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WHETSTONE_HOME) return resolve(env.WHETSTONE_HOME);
  const home = homedir();
  if (process.platform === "win32") return join(env.APPDATA ?? join(home, "AppData", "Roaming"), "Whetstone");
  if (process.platform === "darwin") return join(home, "Library", "Application Support", "Whetstone");
  return join(env.XDG_DATA_HOME ?? join(home, ".local", "share"), "whetstone");
}

/** The worker's interpreter: WHETSTONE_PYTHON, else the venv `npm install` (or the app's first launch) made. */
export function workerPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WHETSTONE_PYTHON) return env.WHETSTONE_PYTHON;
  return venvPython(layout(env).venvDir);
}
