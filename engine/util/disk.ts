/**
 * A full disk is an answer, not a crash: the one place that turns ENOSPC ("no space left on
 * device") and EDQUOT ("disk quota exceeded") into DISK_FULL, naming the folder that could not be
 * written, the space left on its filesystem and what to free. Every engine write path goes through
 * here (writeFileAtomic, appendLine, the data snapshot), so the message is the same wherever the
 * disk fills up.
 */
import { statfsSync } from "node:fs";
import { WhetstoneError } from "./errors";

const FULL_CODES = new Set(["ENOSPC", "EDQUOT"]);

export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && (FULL_CODES.has(code) || code === "DISK_FULL");
}

/** Free bytes for an unprivileged user on the filesystem holding `folder`, or null when unknown. */
export function freeBytes(folder: string): number | null {
  try {
    const s = statfsSync(folder);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

export function formatBytes(n: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** DISK_FULL for a failed write into `folder`; `what` says what was being written ("the run's status"). */
export function diskFullError(folder: string, what: string, cause?: unknown): WhetstoneError {
  const free = freeBytes(folder);
  const quota = (cause as { code?: string } | undefined)?.code === "EDQUOT";
  return new WhetstoneError({
    code: "DISK_FULL",
    message: `The disk is full: could not write ${what} in ${folder} (${quota ? "disk quota exceeded" : "no space left on the device"}${
      free !== null ? `; ${formatBytes(free)} free` : ""
    }).`,
    hint:
      `Free space on the drive that holds ${folder}: delete runs you no longer need (each run folder holds its checkpoints), ` +
      "old exports, or other large files; or move the Whetstone data folder to a bigger drive. Nothing was lost: " +
      "an interrupted run resumes from its last complete checkpoint.",
    where: folder,
  });
}

/** Rethrow a disk-full error from `fn` as DISK_FULL naming `folder`; other errors pass through. */
export function guardDisk<T>(folder: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isDiskFull(e) && !(e instanceof WhetstoneError)) throw diskFullError(folder, what, e);
    throw e;
  }
}
