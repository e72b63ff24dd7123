/**
 * A real full disk: the data folder on a small tmpfs that fills up while a run trains. Needs root
 * and a working `mount -t tmpfs`; skipped with the reason printed otherwise. The CLI must end (no
 * hang) with DISK_FULL and what to free, `whetstone runs` must still work on the full disk without
 * leaving temp files, and once space is freed the run resumes to every step.
 */
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStore } from "../../engine/runs/store";
import { appendLine } from "../../engine/util/atomic";
import { ensureTinyModel } from "../helpers/fixture";
import { HANG_MS } from "../helpers/limits";
import { onlyRun, runCli, startCli, stepReached, until, writeConfig } from "./cli";
import { mountTmpfs, unmount } from "./tmpfs";

const mountPoint = mkdtempSync(join(tmpdir(), "whetstone-tmpfs-"));
const skipReason = mountTmpfs(mountPoint, "48m");
if (skipReason) console.log(`skipping the tmpfs disk-full test: ${skipReason}`);

beforeAll(() => {
  ensureTinyModel();
});

afterAll(() => {
  if (!skipReason) unmount(mountPoint);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Write zeros until the filesystem refuses; returns the filler's path. */
function fillDisk(dir: string): string {
  const path = join(dir, "filler.bin");
  const fd = openSync(path, "w");
  const block = Buffer.alloc(1 << 20);
  try {
    for (let b = block; b.length >= 512; ) {
      try {
        writeSync(fd, b);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
        b = b.subarray(0, b.length / 2); // fill the last partial megabyte too
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

const tmpFiles = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".tmp"))
    .map((e) => join(e.parentPath, e.name));

describe.skipIf(skipReason !== null)("a data folder on a tmpfs that fills up mid-run", () => {
  it("ends with DISK_FULL and what to free, `runs` still works, and resume completes every step once space is back", async () => {
    const home = join(mountPoint, "home");
    // 20 steps: the disk fills at step 4, and a busy machine may take a while to notice step 4 (with 7, the
    // run finished before the disk was full under two CPU burners).
    const config = writeConfig(mountPoint, "tmpfs", { max_steps: 20, checkpoint_every: 3, seed: 3 });
    const cli = startCli(["train", config], home);
    const id = (await until("the run", () => onlyRun(home))).id;
    await stepReached(home, id, 4);
    const filler = fillDisk(mountPoint);

    const code = await Promise.race([cli.exited, new Promise((r) => setTimeout(() => r("hung"), HANG_MS))]);
    expect(code).toBe(3);
    const out = cli.out();
    expect(out).toContain("error[DISK_FULL]: The disk is full: could not write");
    // Whichever notices first says it: the engine (a metrics or status write) or the worker (its
    // free-space check before a checkpoint, or the checkpoint's write).
    expect(out).toMatch(/could not write .* \((no space left on the device; )?[\d.]+ (bytes|KB|MB) free/);
    expect(out).toContain("Free space on the drive that holds");
    expect(out).toContain(`resume with: whetstone resume ${id}`);

    const runs = runCli(["runs"], home);
    expect(runs.err).toBe("");
    expect(runs.out).toMatch(new RegExp(`${id} +interrupted`));
    const show = runCli(["show", id], home); // the end state was recorded over the old status.json, in place
    expect(show.out).toContain("error    [DISK_FULL] The disk is full");
    expect(tmpFiles(home)).toEqual([]);
    const store = new RunStore(home);
    expect(readdirSync(join(store.runDir(id), "checkpoints")).filter((d) => d.startsWith("step-")).length).toBeGreaterThan(0);

    rmSync(filler);
    const resumed = runCli(["resume", id], home);
    expect(resumed.code, resumed.out + resumed.err).toBe(0);
    expect(resumed.out).toContain("completed:");
    expect(store.readMetrics(id).map((m) => m.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("a line the full disk takes only part of is cut back off, and a torn last line never swallows the next", () => {
    const dir = join(mountPoint, "append");
    mkdirSync(dir);
    const file = join(dir, "metrics.jsonl");
    appendLine(file, JSON.stringify({ step: 1 }));
    const filler = fillDisk(mountPoint);
    // The file's page has room for ~4 KB more and the disk for nothing: the kernel takes the first part
    // of a longer line, then refuses the rest (ENOSPC).
    expect(() => appendLine(file, JSON.stringify({ step: 2, text: "x".repeat(10_000) }))).toThrow(expect.objectContaining({ code: "DISK_FULL" }));
    expect(readFileSync(file, "utf8")).toBe('{"step":1}\n');
    rmSync(filler);
    appendFileSync(file, '{"step":2,"lo'); // a crash mid-append, by hand
    appendLine(file, JSON.stringify({ step: 3 }));
    expect(readFileSync(file, "utf8").split("\n")).toEqual(['{"step":1}', '{"step":2,"lo', '{"step":3}', ""]);
  });
});
