/**
 * A full disk at every engine write path, through ENOSPC injected where the bytes are written
 * (inject-enospc.ts): each says DISK_FULL naming the folder and what to free, leaves no temp file,
 * loses nothing already written, and read-only commands keep working. The last test trains on the
 * real worker and fills the disk mid-run: the run ends interrupted (no hang) and resumes complete
 * (run where tmpfs.test.ts cannot mount a real small disk).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Engine } from "../../engine/api/engine";
import { RunStore } from "../../engine/runs/store";
import { writeJsonAtomic } from "../../engine/util/atomic";
import { saveExportRecord } from "../../engine/export/export";
import { runsCommand } from "../../engine/cli/commands";
import type { Io } from "../../engine/cli/io";
import { validateConfig } from "../../engine/config/load";
import { ensureTinyModel, tempHome, tinyConfig } from "../helpers/fixture";
import { enospc } from "./inject-enospc";
import { tmpfsWorks } from "./tmpfs";

vi.mock("node:fs", async (importOriginal) => (await import("./inject-enospc")).enospcFs(importOriginal as () => Promise<typeof import("node:fs")>));

beforeAll(() => {
  ensureTinyModel();
});

afterEach(() => {
  enospc.match = null;
  enospc.hits = [];
});

/** Every file under `dir`, relative, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

const tmpLeft = (dir: string) => files(dir).filter((f) => f.endsWith(".tmp"));

function expectDiskFull(fn: () => unknown, folder: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, "the write should have failed").toMatchObject({ code: "DISK_FULL", where: folder });
  const err = caught as { message: string; hint: string };
  expect(err.message).toContain(`in ${folder}`);
  expect(err.message).toMatch(/no space left on the device; [\d.]+ (bytes|KB|MB|GB|TB) free/);
  expect(err.hint).toMatch(/Free space on the drive that holds .*delete runs you no longer need/);
}

const config = (over: Parameters<typeof tinyConfig>[0] = {}) => validateConfig(tinyConfig(over));

/** A pid that is certainly not running (a process that has exited). */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!;

describe("DISK_FULL at each engine write path", () => {
  it("an atomic write keeps the old file, removes its temp file and names the folder", () => {
    const home = tempHome();
    const file = join(home, "state.json");
    writeJsonAtomic(file, { v: 1 });
    enospc.match = (p) => p.includes(".state.json.");
    expectDiskFull(() => writeJsonAtomic(file, { v: 2 }), home);
    expect(enospc.hits.length).toBe(1);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ v: 1 });
    expect(tmpLeft(home)).toEqual([]);
  });

  it("run store: status, metrics, log, cancel request and a new run each fail with DISK_FULL, nothing half-written", () => {
    const store = new RunStore(tempHome());
    const run = store.create(config());
    const dir = store.runDir(run.id);
    store.appendMetrics(run.id, { step: 1, loss: 2 });
    const cases: [string, (p: string) => boolean, () => unknown][] = [
      ["status", (p) => p.includes(".status.json."), () => store.update(run.id, { step: 3 })],
      ["metrics", (p) => p.endsWith("metrics.jsonl"), () => store.appendMetrics(run.id, { step: 2, loss: 1 })],
      ["log", (p) => p.endsWith("log.txt"), () => store.appendLog(run.id, "a line")],
      ["cancel", (p) => p.includes(".cancel.request."), () => store.requestCancel(run.id, "x")],
    ];
    for (const [what, match, write] of cases) {
      enospc.match = match;
      expectDiskFull(write, dir);
      expect(enospc.hits.length, what).toBeGreaterThan(0);
      enospc.match = null;
    }
    expect(store.get(run.id).step).toBe(0);
    expect(store.readMetrics(run.id)).toEqual([{ step: 1, loss: 2 }]);
    expect(tmpLeft(dir)).toEqual([]);

  });

  it("a run's end state is still recorded on a full disk, over the old status.json in place", () => {
    const store = new RunStore(tempHome());
    const run = store.create(config());
    enospc.match = (p) => p.includes(".status.json."); // no room for a temp file; the old file's blocks remain
    expectDiskFull(() => store.update(run.id, { state: "running" }), store.runDir(run.id));
    const error = { code: "DISK_FULL", message: "The disk is full", hint: "Free space", recoverable: true };
    store.update(run.id, { state: "interrupted", error });
    expect(new RunStore(store.home).get(run.id)).toMatchObject({ state: "interrupted", error });
    expect(tmpLeft(store.home)).toEqual([]);
  });

  it("a new run that cannot be written leaves no folder behind", () => {
    const store = new RunStore(tempHome());
    enospc.match = (p) => p.includes(".status.json.");
    expect(() => store.create(config())).toThrow(expect.objectContaining({ code: "DISK_FULL" }));
    expect(readdirSync(store.runsDir)).toEqual([]);
  });

  it("exports bookkeeping: the record fails with DISK_FULL, earlier records intact", () => {
    const store = new RunStore(tempHome());
    const run = store.create(config());
    saveExportRecord(store, run.id, { format: "adapter", out_dir: "/x" });
    enospc.match = (p) => p.includes(".exports.json.");
    expectDiskFull(() => saveExportRecord(store, run.id, { format: "gguf", out_dir: "/y" }), join(store.runDir(run.id), "reports"));
    enospc.match = null;
    expect(JSON.parse(readFileSync(join(store.runDir(run.id), "reports", "exports.json"), "utf8"))).toHaveLength(1);
  });

  it("read-only commands never write: `runs` on a full disk reports an orphaned run interrupted without recording it", async () => {
    const store = new RunStore(tempHome());
    const run = store.create(config());
    store.update(run.id, { state: "running", step: 4, owner_pid: deadPid() });
    const before = readFileSync(join(store.runDir(run.id), "status.json"), "utf8");
    enospc.match = (p) => p.startsWith(store.home);
    const [listed] = new RunStore(store.home).list();
    expect(listed).toMatchObject({ id: run.id, state: "interrupted", error: { code: "ENGINE_EXITED" } });
    let out = "";
    const io: Io = { out: { isTTY: false, write: (t) => void (out += t) }, err: () => {}, onInterrupt: () => {} };
    expect(await runsCommand(new Engine({ home: store.home }), io, {})).toBe(0);
    expect(out).toMatch(new RegExp(`${run.id} +interrupted +4/`));
    expect(readFileSync(join(store.runDir(run.id), "status.json"), "utf8")).toBe(before);
    expect(tmpLeft(store.home)).toEqual([]);
  });

  it("the data snapshot on a full disk: DISK_FULL naming the data folder, and no run folder or temp file left", async () => {
    const engine = new Engine({ home: tempHome() });
    enospc.match = (p) => /train\.jsonl\.\d+\.tmp$/.test(p);
    await expect(engine.createRun({ config: tinyConfig() })).rejects.toMatchObject({
      code: "DISK_FULL",
      message: expect.stringMatching(/could not write the run's data snapshot in .*\/data \(no space left on the device; .* free\)/),
    });
    expect(enospc.hits.length).toBe(1);
    expect(readdirSync(engine.store.runsDir)).toEqual([]);
    expect(engine.listRuns()).toEqual([]);
  });
});

// Where tmpfs.test.ts can mount a real small disk it covers this end to end (and the suite's time is
// spent once); elsewhere the injected version runs.
describe.skipIf(tmpfsWorks())("a disk that fills up while training (real worker, injected ENOSPC)", () => {
  it("ends the run interrupted with DISK_FULL instead of hanging; the checkpoint stays; once space is back, resume completes every step", async () => {
    const engine = new Engine({ home: tempHome() });
    const run = await engine.createRun({ config: tinyConfig({ data: { max_length: 128 }, training: { max_steps: 8, checkpoint_every: 3, micro_batch_size: 2 } }) });
    const dir = engine.store.runDir(run.id);
    let armed = false;
    engine.events.on("event", (e) => {
      if (armed || e.type !== "metrics" || e.runId !== run.id || e.row.step !== 4) return;
      armed = true; // the disk fills up after step 4 is recorded: step 5's row is the first that cannot be
      enospc.match = (p) => p === join(dir, "metrics.jsonl");
    });
    const stopped = await engine.waitForRun(run.id);
    expect(stopped).toMatchObject({ state: "interrupted", error: { code: "DISK_FULL", recoverable: true } });
    expect(stopped.error!.message).toContain(dir);
    expect(readdirSync(join(dir, "checkpoints"))).toEqual(["step-00000003"]);
    expect(existsSync(join(dir, "checkpoints", "step-00000003", "manifest.json"))).toBe(true);
    expect(tmpLeft(dir)).toEqual([]);

    enospc.match = null;
    engine.resumeRun({ id: run.id });
    const done = await engine.waitForRun(run.id);
    expect(done.state).toBe("completed");
    expect(engine.getMetrics({ id: run.id }).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
