/**
 * Atomic writes for run state: write a temp file beside the target, fsync it, rename it over the
 * target, fsync the folder. A crash at any point leaves either the old file or the new one, never a
 * torn one. Appends (metrics, logs) are line-atomic only: readers skip a torn last line.
 *
 * A full disk (ENOSPC, EDQUOT) surfaces as DISK_FULL naming the folder (util/disk.ts), and a failed
 * write removes its temp file: nothing half-written is left beside the target.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, mkdirSync, appendFileSync, rmSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { guardDisk } from "./disk";

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  guardDisk(dir, basename(path), () => {
    mkdirSync(dir, { recursive: true });
    try {
      const fd = openSync(tmp, "w", mode);
      try {
        const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
        // writeSync may write less than asked (a nearly full disk does): loop until all is written.
        for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  });
  fsyncDir(dir);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

export function appendLine(path: string, line: string): void {
  guardDisk(dirname(path), basename(path), () => appendFileSync(path, line.endsWith("\n") ? line : line + "\n", "utf8"));
}

function fsyncDir(dir: string): void {
  // Windows cannot open a folder for fsync; the rename is still atomic there.
  if (process.platform === "win32") return;
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort: some filesystems refuse fsync on folders */
  }
}
