/**
 * Atomic writes for run state: write a temp file beside the target, fsync it, rename it over the
 * target, fsync the folder. A crash at any point leaves either the old file or the new one, never a
 * torn one. Appends (metrics, logs) are line-atomic only: readers skip a torn last line.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, mkdirSync, appendFileSync } from "node:fs";
import { dirname, basename, join } from "node:path";

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dir);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

export function appendLine(path: string, line: string): void {
  appendFileSync(path, line.endsWith("\n") ? line : line + "\n", "utf8");
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
