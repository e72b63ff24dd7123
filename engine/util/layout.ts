/**
 * Where Whetstone's own files are, in the two layouts it runs from:
 *
 *   dev       a repo checkout: ROOT/engine/worker, ROOT/scripts/setup.mjs, the judge thread booted
 *             through tsx from ROOT/engine/judge/thread-boot.mjs, the venv in engine/worker/.venv.
 *   packaged  an app built by electron-builder (electron-builder.yml): the code is in
 *             RESOURCES/app.asar, which Python cannot read, so the worker package and its
 *             requirements are copied beside it (extraResources) to RESOURCES/worker, the setup
 *             script to RESOURCES/setup.mjs; the judge thread is the esbuild bundle
 *             app.asar/electron/dist/judge-thread.mjs (Electron ≥ 18 loads worker threads from
 *             asar; tsx's loader hooks are not relied on there). Nothing is written to the install
 *             folder (read-only, replaced on update): the venv and the cache live in the user's
 *             data folder.
 *
 * The layout is told apart by the project root itself: a packaged app's package.json is found
 * inside `app.asar`. Pure: roots are parameters, so both layouts are testable without Electron.
 */
import { basename, dirname, join } from "node:path";

export interface Layout {
  packaged: boolean;
  /** The folder `python -m whetstone_worker` runs in (the whetstone_worker package's parent). */
  workerDir: string;
  /** scripts/setup.mjs: creates the venv, installs torch and the pinned requirements. */
  setupScript: string;
  /** The file a judge worker thread is started from. */
  judgeThread: string;
  /** The worker's Python virtual environment. */
  venvDir: string;
  /** Files Whetstone derives once and keeps (the goldfish hash table). */
  cacheDir: string;
}

export interface LayoutRoots {
  /** The folder with Whetstone's package.json (app.asar when packaged). */
  projectRoot: string;
  /** Electron's process.resourcesPath when packaged; default: the folder holding app.asar. */
  resourcesPath?: string;
  /** Where a packaged app keeps per-user state (Electron's app.getPath("userData")). */
  userData?: string;
}

export function isPackagedRoot(projectRoot: string): boolean {
  return /\.asar$/i.test(basename(projectRoot));
}

export function appLayout(roots: LayoutRoots): Layout {
  const { projectRoot } = roots;
  if (!isPackagedRoot(projectRoot)) {
    const workerDir = join(projectRoot, "engine", "worker");
    return {
      packaged: false,
      workerDir,
      setupScript: join(projectRoot, "scripts", "setup.mjs"),
      judgeThread: join(projectRoot, "engine", "judge", "thread-boot.mjs"),
      venvDir: join(workerDir, ".venv"),
      cacheDir: join(projectRoot, ".cache"),
    };
  }
  const resources = roots.resourcesPath ?? dirname(projectRoot);
  if (!roots.userData) throw new Error("A packaged Whetstone needs the user's data folder for its Python environment (Electron's app.getPath('userData')).");
  return {
    packaged: true,
    workerDir: join(resources, "worker"),
    setupScript: join(resources, "setup.mjs"),
    judgeThread: join(projectRoot, "electron", "dist", "judge-thread.mjs"),
    venvDir: join(roots.userData, "python"),
    cacheDir: join(roots.userData, "cache"),
  };
}

/** The interpreter inside a venv. */
export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === "win32" ? join(venvDir, "Scripts", "python.exe") : join(venvDir, "bin", "python");
}
