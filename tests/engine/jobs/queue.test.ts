import { describe, expect, it } from "vitest";
import { JobQueue } from "../../../engine/jobs/queue";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("JobQueue", () => {
  it("runs one job at a time by default, in order", async () => {
    const q = new JobQueue();
    const order: string[] = [];
    const gates = { a: deferred(), b: deferred(), c: deferred() };
    for (const key of ["a", "b", "c"] as const) {
      q.enqueue({ key, run: async () => { order.push(`start ${key}`); await gates[key].promise; order.push(`end ${key}`); }, cancel: () => {} });
    }
    expect(q.position("a")).toBe(0);
    expect(q.position("b")).toBe(1);
    expect(q.position("c")).toBe(2);
    gates.a.resolve();
    await new Promise((r) => setTimeout(r, 0));
    gates.b.resolve();
    gates.c.resolve();
    await q.idle();
    expect(order).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
  });

  it("runs up to `concurrency` jobs together", async () => {
    const q = new JobQueue(2);
    let running = 0;
    let peak = 0;
    for (const key of ["a", "b", "c", "d"]) {
      q.enqueue({ key, run: async () => { running++; peak = Math.max(peak, running); await new Promise((r) => setTimeout(r, 10)); running--; }, cancel: () => {} });
    }
    await q.idle();
    expect(peak).toBe(2);
  });

  it("withdraws a queued job and asks a running one to stop", async () => {
    const q = new JobQueue();
    const gate = deferred();
    let cancelled = false;
    let bRan = false;
    q.enqueue({ key: "a", run: () => gate.promise, cancel: () => { cancelled = true; gate.resolve(); } });
    q.enqueue({ key: "b", run: async () => { bRan = true; }, cancel: () => {} });
    expect(q.cancel("b")).toBe(true);
    expect(q.cancel("a")).toBe(false);
    expect(q.cancel("zzz")).toBeUndefined();
    await q.idle();
    expect(cancelled).toBe(true);
    expect(bRan).toBe(false);
  });

  it("keeps going after a job throws, and refuses duplicate keys", async () => {
    const q = new JobQueue();
    let ran = false;
    q.enqueue({ key: "a", run: async () => { throw new Error("boom"); }, cancel: () => {} });
    expect(() => q.enqueue({ key: "a", run: async () => {}, cancel: () => {} })).toThrow(/already/);
    q.enqueue({ key: "b", run: async () => { ran = true; }, cancel: () => {} });
    await q.idle();
    expect(ran).toBe(true);
  });
});
