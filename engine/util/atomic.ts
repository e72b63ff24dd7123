/**
 * Atomic writes for run state: write a temp file beside the target, fsync it, rename it over the
 * target, fsync the folder. A crash at any point leaves either the old file or the new one, never a
 * torn one. Appends (metrics, logs) are line-atomic only: readers skip a torn last line.
 *
 * A full disk (ENOSPC, EDQUOT) surfaces as DISK_FULL naming the folder (util/disk.ts), and a failed
 * write removes its temp file: nothing half-written is left beside the target.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, renameSync, writeSync, mkdirSync, rmSync } from "node:fs";
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

/**
 * Last resort on a full disk, for a small file that must still say what happened (a run's final
 * status): overwrite it in place, which reuses its existing blocks instead of allocating a temp
 * file's. Not atomic: a crash mid-write can tear the file (status.json then reads as damaged, with
 * the fix). Throws when even that does not fit.
 */
export function overwriteInPlace(path: string, data: string): void {
  const bytes = Buffer.from(data, "utf8");
  guardDisk(dirname(path), basename(path), () => {
    const fd = openSync(path, "r+");
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off, off);
      ftruncateSync(fd, bytes.length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Appends one line. Readers skip a torn line (a crash mid-append), so a torn line must never swallow
 * the next: a write the disk refuses part-way (ENOSPC after some bytes) is cut back off before the
 * error goes up, and a file whose last line has no newline gets one before the new line. Seen on a
 * tmpfs that filled up mid-run: metrics row 16 was torn, the resumed run appended its own row 16
 * onto it, and the run's metrics lacked step 16 for good.
 */
export function appendLine(path: string, line: string): void {
  const text = line.endsWith("\n") ? line : line + "\n";
  guardDisk(dirname(path), basename(path), () => {
    const fd = openSync(path, "a+");
    try {
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
      const data = Buffer.from(torn ? "\n" + text : text, "utf8");
      try {
        for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done);
      } catch (e) {
        try {
          ftruncateSync(fd, size);
        } catch {
          /* the torn tail stays; the next append starts on a new line */
        }
        throw e;
      }
    } finally {
      closeSync(fd);
    }
  });
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
