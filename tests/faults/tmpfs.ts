/** Mounting a small tmpfs for a real full disk: only as root on Linux, and only where mount works. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Mount a tmpfs of `size` (e.g. "48m") at `dir`; null when mounted, else why not. */
export function mountTmpfs(dir: string, size: string): string | null {
  if (process.platform !== "linux") return "tmpfs needs Linux";
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  return r.status === 0 ? null : `mount -t tmpfs failed: ${(r.stderr || r.error?.message || "").trim()}`;
}

export function unmount(dir: string): void {
  spawnSync("umount", ["-l", dir]);
}

/** Whether tmpfs.test.ts can run here (it then covers a training whose disk fills up for real). */
export function tmpfsWorks(): boolean {
  const dir = mkdtempSync(join(tmpdir(), "whetstone-tmpfs-probe-"));
  const why = mountTmpfs(dir, "1m");
  if (why === null) unmount(dir);
  rmSync(dir, { recursive: true, force: true });
  return why === null;
}
