/**
 * The default judge shipped inside the installer, so the packaged app judges on first use without
 * a network.
 *
 *   npm run fetch-judge   (a machine with internet) downloads the default judge into the local
 *                         cache, $WHETSTONE_HOME/judges/<repo>, exactly as the app would (download.ts:
 *                         resumable, checksum-verified, manifest written last).
 *   npm run package       stages a complete cached copy into build/judge/<repo> (stageJudge) before
 *                         electron-builder runs; electron-builder.yml's extraResources puts
 *                         build/judge into RESOURCES/judge. No cached copy: nothing is staged, the
 *                         installer is ~0.5 GB smaller and the app downloads the judge on first use.
 *   the app               resolveJudge (run.ts) uses, in order: the user's cache, the installer's copy
 *                         (bundledJudgeDir), a download. The installer's copy is read in place: the
 *                         install folder is read-only and replaced on update, and ONNX weights only
 *                         need reading.
 *
 * A copy counts as complete when its manifest (written last by the download) lists every file of
 * the spec and each is there with the recorded size. Sizes, not hashes: hashing 0.5 GB at every
 * evaluation would cost seconds, and the files were verified against the hub when downloaded.
 */
import { copyFileSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Layout } from "../util/layout";
import { judgeCacheDir, type JudgeSpec } from "./download";

const MANIFEST = "whetstone-judge.json";

interface Manifest {
  repo: string;
  revision: string;
  files: Record<string, { bytes: number }>;
}

/** The folder name of a judge (the same in the cache, the staging folder and the resources). */
export const judgeSlug = (spec: JudgeSpec) => basename(judgeCacheDir("", spec));

/** Where a packaged app finds the installer's copy of `spec` (RESOURCES/judge/<slug>); null in a dev checkout. */
export function bundledJudgeDir(l: Pick<Layout, "packaged" | "workerDir">, spec: JudgeSpec): string | null {
  return l.packaged ? join(dirname(l.workerDir), "judge", judgeSlug(spec)) : null;
}

function readManifest(folder: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(join(folder, MANIFEST), "utf8")) as Manifest;
  } catch {
    return null;
  }
}

/** Whether `folder` holds every file of `spec` as its manifest recorded them. */
export function isCompleteCopy(folder: string, spec: JudgeSpec): boolean {
  const m = readManifest(folder);
  if (!m || m.repo !== spec.repo) return false;
  return spec.files.every((f) => {
    const rec = m.files[f.path];
    const path = join(folder, f.path);
    return rec !== undefined && existsSync(path) && statSync(path).size === rec.bytes;
  });
}

export interface StageResult {
  staged: boolean;
  /** The staged folder (build/judge/<slug>), or where the cache was looked for when nothing was staged. */
  folder: string;
  bytes: number;
  message: string;
}

/**
 * Copy the cached default judge into `stagingRoot/<slug>` for the installer, replacing what an
 * earlier packaging left there; with no complete cached copy, remove any stale staging so an old
 * judge never ships. The copy goes to a temporary folder renamed into place at the end.
 */
export function stageJudge(home: string, stagingRoot: string, spec: JudgeSpec): StageResult {
  const cache = judgeCacheDir(home, spec);
  const dest = join(stagingRoot, judgeSlug(spec));
  rmSync(stagingRoot, { recursive: true, force: true });
  if (!isCompleteCopy(cache, spec)) {
    return { staged: false, folder: cache, bytes: 0, message: `The default judge (${spec.repo}) is not in the local cache (${cache}), so the installer will not include it and the app will download it on first use. Run \`npm run fetch-judge\` on a machine with internet first to include it.` };
  }
  const tmp = `${dest}.partial`;
  mkdirSync(tmp, { recursive: true });
  let bytes = 0;
  for (const name of [...spec.files.map((f) => f.path), MANIFEST]) {
    const to = join(tmp, name);
    mkdirSync(dirname(to), { recursive: true });
    // A copy-on-write clone where the file system can (no second 0.5 GB), a plain copy elsewhere.
    copyFileSync(join(cache, name), to, constants.COPYFILE_FICLONE);
    bytes += statSync(to).size;
  }
  renameSync(tmp, dest);
  return { staged: true, folder: dest, bytes, message: `Staged the default judge (${spec.repo}, ${(bytes / 1e6).toFixed(0)} MB) from ${cache} for the installer.` };
}
