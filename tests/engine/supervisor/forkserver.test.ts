/**
 * Workers forked from the pre-imported fork server, against the real worker: the time to hello, what
 * kind of process a forked worker is (fresh, its own process group, the server's child), how its
 * exit is reported, and when the engine spawns instead (another environment gets another server; the
 * switch turns it off).
 */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { WorkerProcess } from "../../../engine/supervisor/worker-process";
import { closeForkServers } from "../../../engine/supervisor/forkserver";

/** Parent pid and process group of a live process, from /proc. */
function procStat(pid: number): { ppid: number; pgrp: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");

async function timedStart(env?: NodeJS.ProcessEnv) {
  const t = performance.now();
  const started = await WorkerProcess.start({ env });
  return { ...started, ms: performance.now() - t };
}

describe.runIf(process.platform === "linux")("forked workers", () => {
  afterAll(() => closeForkServers());

  it("say hello in a fraction of a spawned worker's start, each a fresh process in its own group, a child of the one server", async () => {
    const first = await timedStart();
    const second = await timedStart();
    const a = procStat(first.hello.pid);
    const b = procStat(second.hello.pid);
    expect(second.hello.pid).not.toBe(first.hello.pid);
    expect(a.ppid).toBe(b.ppid); // both forked by the same server…
    expect(a.ppid).not.toBe(process.pid); // …not spawned by this process
    expect(a.pgrp).toBe(first.hello.pid); // each in its own process group, as a spawned worker is
    expect(b.pgrp).toBe(second.hello.pid);
    // The first start paid the server's imports; the second is a fork (ratio, not seconds: machines differ).
    expect(second.ms).toBeLessThan(first.ms / 5);

    expect((await first.worker.stop()).code).toBe(0);
    second.worker.kill("SIGKILL");
    const killed = await second.worker.exited;
    expect(killed.signal).toBe("SIGKILL");
    expect(killed.code).toBeNull();
  });

  it("a busy engine still gets the hello that arrived in the same read as the worker's first line", async () => {
    await (await timedStart()).worker.stop(); // the server is up
    const starting = WorkerProcess.start({});
    // Once the fork is asked for, block the event loop while the worker connects and says hello.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        const until = Date.now() + 1500;
        while (Date.now() < until);
        resolve();
      }),
    );
    const { worker, hello } = await starting;
    expect(hello.pid).toBe(worker.pid);
    expect((await worker.stop()).code).toBe(0);
  });

  it("another environment gets another server (libraries read it at import); the switch spawns as before", async () => {
    const shared = await timedStart();
    const other = await timedStart({ WHETSTONE_TEST_MARK: "other-env" });
    expect(procStat(other.hello.pid).ppid).not.toBe(procStat(shared.hello.pid).ppid);
    expect(environOf(other.hello.pid)).toContain("WHETSTONE_TEST_MARK=other-env");
    expect(environOf(shared.hello.pid)).not.toContain("WHETSTONE_TEST_MARK=other-env");

    const spawned = await timedStart({ WHETSTONE_FORK_SERVER: "0" });
    expect(procStat(spawned.hello.pid).ppid).toBe(process.pid);
    // A job that asks to be spawned (a hub download: huggingface_hub only) is, server or not.
    const { worker: asked, hello } = await WorkerProcess.start({ fork: false });
    expect(procStat(hello.pid).ppid).toBe(process.pid);
    for (const w of [shared.worker, other.worker, spawned.worker, asked]) expect((await w.stop()).code).toBe(0);
  });
});
