import { existsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { DeviceLock } from "../../../engine/jobs/device-lock";
import { tempHome } from "../../helpers/fixture";

describe("DeviceLock", () => {
  it("lets one holder in at a time and the next in once it is released", async () => {
    const home = tempHome();
    const a = new DeviceLock(home);
    const b = new DeviceLock(home);
    const releaseA = await a.acquire("run-a");
    expect(a.owner()).toMatchObject({ pid: process.pid, runId: "run-a" });
    const waitedFor: string[] = [];
    let bHas = false;
    const bTurn = b.acquire("run-b", { pollMs: 10, onWait: (o) => waitedFor.push(o.runId) }).then((release) => {
      bHas = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(bHas).toBe(false);
    expect(waitedFor).toEqual(["run-a"]);
    releaseA();
    const releaseB = await bTurn;
    expect(b.owner()?.runId).toBe("run-b");
    releaseB();
    expect(existsSync(a.path)).toBe(false);
  });

  it("takes over a lock left by a process that no longer exists", async () => {
    const home = tempHome();
    const lock = new DeviceLock(home);
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    writeFileSync(lock.path, JSON.stringify({ pid: dead, token: "old", runId: "crashed", since: "2020-01-01" }));
    const release = await lock.acquire("mine", { pollMs: 10 });
    expect(lock.owner()?.runId).toBe("mine");
    release();
  });

  it("gives up waiting when aborted, and a release by a non-holder does nothing", async () => {
    const home = tempHome();
    const holder = await new DeviceLock(home).acquire("first");
    const controller = new AbortController();
    const waiting = new DeviceLock(home).acquire("second", { pollMs: 10, signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toThrow("aborted");
    expect(new DeviceLock(home).owner()?.runId).toBe("first");
    holder();
  });
});
