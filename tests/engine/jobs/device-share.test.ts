/**
 * A share of the device lock (jobs/device-share): several trainings admitted at once by slot and
 * planned memory, the machine's lock held once for all of them while any trains and released after
 * the last, other holders of the lock waiting for the share as for one training, and the share
 * waiting for them in turn.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DeviceLock, holderName } from "../../../engine/jobs/device-lock";
import { DeviceShare } from "../../../engine/jobs/device-share";
import { tempHome } from "../../helpers/fixture";

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
/** A promise's state without waiting for it. */
function track<T>(p: Promise<T>) {
  const s = { settled: false, value: undefined as T | undefined, error: undefined as unknown };
  p.then((v) => ((s.settled = true), (s.value = v)), (e) => ((s.settled = true), (s.error = e)));
  return s;
}

describe("DeviceShare", () => {
  it("admits as many as its slots at once, the next when one leaves, and holds the device lock while any trains", async () => {
    const lock = new DeviceLock(tempHome());
    const share = new DeviceShare(lock, "sweep s1 (2 trials at a time)", 2, 10);
    const a = await share.acquire("a", 3);
    const b = await share.acquire("b", 3);
    expect(share.holders()).toEqual(["a", "b"]);
    expect(lock.owner()).toMatchObject({ pid: process.pid, runId: "sweep s1 (2 trials at a time)", what: "sweep s1 (2 trials at a time)" });
    const told: string[][] = [];
    const c = track(share.acquire("c", 3, { slot: (holders) => told.push(holders) }));
    await tick();
    expect(c.settled).toBe(false);
    expect(told).toEqual([["a", "b"]]);
    a();
    await tick();
    expect(c.settled).toBe(true);
    expect(share.holders()).toEqual(["b", "c"]);
    b();
    expect(existsSync(lock.path)).toBe(true); // c still trains
    c.value!();
    await tick();
    expect(existsSync(lock.path)).toBe(false);
    a(); // a second release does nothing
    expect(share.holders()).toEqual([]);
  });

  it("admits by planned memory too, but always one alone", async () => {
    const share = new DeviceShare(undefined, "sweep s2", 3, 10);
    const big = await share.acquire("big", 6);
    const next = track(share.acquire("next", 6));
    await tick();
    expect(next.settled).toBe(false); // 12 of 10
    big();
    await tick();
    expect(next.settled).toBe(true);
    next.value!();
    const huge = await share.acquire("huge", 50); // over the budget, but alone: it runs as it would without a share
    huge();
  });

  it("is one holder to the machine's lock: a training outside waits for it, and it waits for a training outside", async () => {
    const home = tempHome();
    const share = new DeviceShare(new DeviceLock(home), "sweep s3 (2 trials at a time)", 2, 10);
    const a = await share.acquire("a", 1);
    const waitedFor: string[] = [];
    const outside = track(new DeviceLock(home).acquire("run-x", { pollMs: 10, onWait: (o) => waitedFor.push(holderName(o)) }));
    await tick();
    expect(outside.settled).toBe(false);
    expect(waitedFor).toEqual(["sweep s3 (2 trials at a time)"]);
    const b = await share.acquire("b", 1); // the share's second slot does not wait for the lock again
    a();
    b();
    await tick(50);
    expect(outside.settled).toBe(true);
    // Now the outside run holds the lock: the share's next training waits for it, and says for whom.
    const blockedBy: string[] = [];
    const c = track(share.acquire("c", 1, { device: (o) => blockedBy.push(holderName(o)) }));
    await tick(50);
    expect(c.settled).toBe(false);
    expect(blockedBy).toEqual(["run run-x"]);
    (outside.value as () => void)();
    for (let i = 0; i < 40 && !c.settled; i++) await tick(50); // the lock is polled once a second
    expect(c.settled).toBe(true);
    c.value!();
  });

  it("lets a training waiting for its slot give up", async () => {
    const share = new DeviceShare(undefined, "sweep s4", 1, 10);
    const a = await share.acquire("a", 1);
    const stop = new AbortController();
    const b = track(share.acquire("b", 1, { signal: stop.signal }));
    stop.abort();
    await tick();
    expect(b.settled).toBe(true);
    expect(b.error).toBeInstanceOf(Error);
    a();
    expect(share.holders()).toEqual([]);
    const c = await share.acquire("c", 1); // b's place was given up, not kept
    expect(share.holders()).toEqual(["c"]);
    c();
  });
});
