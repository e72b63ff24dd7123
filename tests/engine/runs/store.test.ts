import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { RunStore } from "../../../engine/runs/store";
import { validateConfig } from "../../../engine/config/load";
import { tempHome } from "../../helpers/fixture";

const config = validateConfig({ name: "demo", model: { path: "/m" }, data: { train: "/d.jsonl" } }, { checkPaths: false });

describe("RunStore", () => {
  it("creates a run folder with config, status, log and metrics", () => {
    const store = new RunStore(tempHome());
    const s = store.create(config, "name: demo\n");
    const dir = store.runDir(s.id);
    expect(s.id).toMatch(/^\d{8}-\d{6}-demo-[0-9a-f]{4}$/);
    for (const f of ["config.json", "config.source.yaml", "status.json", "log.txt", "metrics.jsonl", "checkpoints", "outputs"]) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(store.config(s.id)).toEqual(config);
    expect(store.get(s.id).state).toBe("queued");
  });

  it("writes status atomically: no temp files left, and a reader never sees a torn file", () => {
    const store = new RunStore(tempHome());
    const s = store.create(config);
    for (let i = 0; i < 50; i++) store.update(s.id, { step: i });
    expect(readdirSync(store.runDir(s.id)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(JSON.parse(readFileSync(join(store.runDir(s.id), "status.json"), "utf8")).step).toBe(49);
  });

  it("keeps the last metrics line per step (a resumed run re-logs the steps after its checkpoint) and skips a torn line", () => {
    const store = new RunStore(tempHome());
    const s = store.create(config);
    for (const step of [1, 2, 3, 4]) store.appendMetrics(s.id, { step, loss: 10 - step });
    for (const step of [3, 4, 5]) store.appendMetrics(s.id, { step, loss: 100 + step });
    appendFileSync(join(store.runDir(s.id), "metrics.jsonl"), '{"step": 6, "lo');
    expect(store.readMetrics(s.id).map((r) => [r.step, r.loss])).toEqual([
      [1, 9],
      [2, 8],
      [3, 103],
      [4, 104],
      [5, 105],
    ]);
    expect(store.readMetrics(s.id, 4).map((r) => r.step)).toEqual([5]);
  });

  it("resolves full ids, unique prefixes and names, and says when a reference is ambiguous or unknown", () => {
    const store = new RunStore(tempHome());
    const a = store.create(config);
    const b = store.create({ ...config, name: "other" });
    expect(store.resolve(a.id)).toBe(a.id);
    expect(store.resolve("other")).toBe(b.id);
    expect(store.resolve(b.id.slice(0, b.id.length - 2))).toBe(b.id);
    expect(() => store.resolve("2")).toThrow(/matches 2 runs/);
    expect(() => store.resolve("nope")).toThrow(/No run 'nope'/);
  });

  it("marks a run whose owning process died as interrupted, with a resume hint", () => {
    const store = new RunStore(tempHome());
    const s = store.create(config);
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    store.update(s.id, { state: "running", owner_pid: Number(dead.stdout), step: 7 });
    const now = store.get(s.id);
    expect(now.state).toBe("interrupted");
    expect(now.error?.code).toBe("ENGINE_EXITED");
    expect(now.error?.message).toContain("at step 7");
    expect(now.error?.hint).toContain(`whetstone resume ${s.id}`);
    // …and it stays fixed on disk.
    expect(JSON.parse(readFileSync(join(store.runDir(s.id), "status.json"), "utf8")).state).toBe("interrupted");
  });

  it("lists newest first and ignores folders that are not runs", () => {
    const home = tempHome();
    const store = new RunStore(home);
    const a = store.create(config);
    const b = store.create({ ...config, name: "second" });
    store.update(a.id, { created_at: "2020-01-01T00:00:00.000Z" });
    expect(store.list().map((r) => r.id)).toEqual([b.id, a.id]);
  });

  it("carries cancel requests between processes through the run folder", () => {
    const store = new RunStore(tempHome());
    const s = store.create(config);
    expect(store.cancelRequested(s.id)).toBe(false);
    new RunStore(store.home).requestCancel(s.id, "a1");
    expect(store.cancelRequest(s.id)?.attempt_id).toBe("a1");
    expect(store.cancelRequested(s.id)).toBe(true);
    store.clearCancel(s.id);
    expect(store.cancelRequested(s.id)).toBe(false);
  });
});
