/**
 * Workers forked from the pre-imported fork server, against the real worker: the time to hello, what
 * kind of process a forked worker is (fresh, its own process group, the server's child), how its
 * exit is reported, and when the engine spawns instead (another environment gets another server; the
 * switch turns it off).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WorkerProcess } from "../../../engine/supervisor/worker-process";
import { closeForkServers, forkServerFor } from "../../../engine/supervisor/forkserver";
import { PROJECT_ROOT, workerPython } from "../../../engine/paths";
import { hubOnlyWorkerEnv } from "../../../engine/secrets/token";
import { workerPythonOutput } from "../../helpers/python";

/** Parent pid and process group of a live process, from /proc. */
function procStat(pid: number): { ppid: number; pgrp: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");

/**
 * An environment of its own (a variable read at import names the server): a server this test starts
 * fresh and may kill, not the one other test files running beside it use. Stopped after the tests.
 */
const ownServers = new Set<number>();
const own: NodeJS.ProcessEnv = { HF_WHETSTONE_TEST_SERVER: randomBytes(6).toString("hex") };
const ownServer = () => own;

async function timedStart(env?: NodeJS.ProcessEnv) {
  const t = performance.now();
  const started = await WorkerProcess.start({ env });
  return { ...started, ms: performance.now() - t };
}

describe.runIf(process.platform === "linux")("forked workers", () => {
  afterAll(() => {
    closeForkServers();
    for (const pid of ownServers) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* gone already */
      }
    }
  });

  it("say hello in a fraction of a spawned worker's start, each a fresh process in its own group, a child of the one server", async () => {
    const env = ownServer();
    const first = await timedStart(env);
    const second = await timedStart(env);
    const a = procStat(first.hello.pid);
    ownServers.add(a.ppid);
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

  it("runs a one-off command as `python ARGS` would (-c with its arguments, -m), forked, and a failure's exit code and stderr come back", async () => {
    const [argv, ppid] = JSON.parse(await workerPythonOutput(["-c", "import json, os, sys; print(json.dumps([sys.argv, os.getppid()]))", "a", "b c"])) as [string[], number];
    expect(argv).toEqual(["-c", "a", "b c"]);
    expect(ppid).not.toBe(process.pid); // a fork of the server, not spawned by this process
    expect(JSON.parse(await workerPythonOutput(["-m", "whetstone_worker.doctor"]))).toMatchObject({ torch: { importable: true } });
    await expect(workerPythonOutput(["-c", "import sys; print('what went wrong', file=sys.stderr); sys.exit(3)"])).rejects.toThrow(/exited 3:\nwhat went wrong$/);
    await expect(workerPythonOutput(["-c", "raise ValueError('bad input')"])).rejects.toThrow(/exited 1:[^]*ValueError: bad input$/);
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

  it("the variables Node libraries set when first imported do not name another server, nor the hub's address for an offline worker; an import-time one does", () => {
    const python = workerPython();
    const base = { HOME: "/home/someone", OMP_NUM_THREADS: "1" };
    const socket = forkServerFor(python, base)!.socket;
    expect(forkServerFor(python, { ...base, ORT_DISABLE_TELEMETRY: "1", VIPSHOME: "/target" })!.socket).toBe(socket); // onnxruntime-node, sharp
    expect(forkServerFor(python, { ...base, ORT_DISABLE_TELEMETRY: "1" })!.forkEnv).toMatchObject({ ORT_DISABLE_TELEMETRY: "1" }); // still in the fork
    expect(forkServerFor(python, { ...base, HF_HUB_OFFLINE: "0" })!.socket).not.toBe(socket);
    // A mirror's address names a server only for an online worker: an offline one never reaches it.
    expect(forkServerFor(python, { ...base, HF_ENDPOINT: "http://mirror" })!.socket).toBe(socket);
    const offline = forkServerFor(python, { ...base, HF_HUB_OFFLINE: "TRUE" })!.socket;
    expect(forkServerFor(python, { ...base, HF_ENDPOINT: "http://mirror", HF_HUB_OFFLINE: "TRUE" })!.socket).toBe(offline);
    expect(forkServerFor(python, { ...base, HF_ENDPOINT: "http://mirror" })!.forkEnv).toMatchObject({ HF_ENDPOINT: "http://mirror" }); // still in the fork
    const online = forkServerFor(python, { ...base, HF_HUB_OFFLINE: "0" })!.socket;
    expect(forkServerFor(python, { ...base, HF_HUB_OFFLINE: "0", HF_ENDPOINT: "http://mirror" })!.socket).not.toBe(online);
  });

  it("a command that ends while the engine is busy still reports its end", async () => {
    await workerPythonOutput(["-c", "pass"]); // the server is up
    const output = workerPythonOutput(["-c", "print('done')"]);
    // Block the event loop while the fork connects, prints and exits: the server's "forked" and "exited"
    // lines then come in one read, before this process has read the fork's connections.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        const until = Date.now() + 1500;
        while (Date.now() < until);
        resolve();
      }),
    );
    const ended = await Promise.race([output, new Promise((r) => setTimeout(() => r("no end reported"), 20_000))]);
    expect(ended).toBe("done\n");
  });

  it("another import-time environment gets another server; the engine's own variables go with each fork; the switch spawns as before", async () => {
    const shared = await timedStart();
    const env = ownServer();
    const other = await timedStart(env);
    ownServers.add(procStat(other.hello.pid).ppid);
    expect(procStat(other.hello.pid).ppid).not.toBe(procStat(shared.hello.pid).ppid);
    const mark = `HF_WHETSTONE_TEST_SERVER=${env.HF_WHETSTONE_TEST_SERVER}`;
    expect(environOf(other.hello.pid)).toContain(mark); // its server was started with it
    expect(environOf(shared.hello.pid)).not.toContain(mark);
    // A variable no library reads at import (the engine's own) does not need a server of its own.
    const sameServer = await timedStart({ WHETSTONE_TEST_MARK: "per-fork" });
    expect(procStat(sameServer.hello.pid).ppid).toBe(procStat(shared.hello.pid).ppid);

    // The switch (device-less, so the spawned worker skips torch's imports: this checks who starts it, cheaply).
    const spawned = await timedStart({ WHETSTONE_FORK_SERVER: "0", WHETSTONE_NO_DEVICE: "1" });
    expect(procStat(spawned.hello.pid).ppid).toBe(process.pid);
    // A job that asks to be spawned (a pull or a push: huggingface_hub only, no torch) is, server or not.
    const { worker: asked, hello } = await WorkerProcess.start({ fork: false, env: hubOnlyWorkerEnv() });
    expect(procStat(hello.pid).ppid).toBe(process.pid);
    expect(hello.device).toBeNull();
    for (const w of [shared.worker, other.worker, sameServer.worker, spawned.worker, asked]) expect((await w.stop()).code).toBe(0);
  });

  it("is shared by other processes (a CLI command, another test file) and outlives the one that started it", async () => {
    const mine = await timedStart();
    const server = procStat(mine.hello.pid).ppid;
    expect((await mine.worker.stop()).code).toBe(0);
    // Another Node process asks for a worker: the same server forks it (no imports paid again).
    const script = `
      import { WorkerProcess } from ${JSON.stringify(join(PROJECT_ROOT, "engine/supervisor/worker-process.ts"))};
      import { readFileSync } from "node:fs";
      const { worker, hello } = await WorkerProcess.start({});
      const stat = readFileSync("/proc/" + hello.pid + "/stat", "utf8");
      console.log(JSON.stringify({ ppid: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) }));
      await worker.stop();`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: PROJECT_ROOT, encoding: "utf8", env: process.env });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!).ppid).toBe(server);
  });

  it("a killed server's workers carry on to their end, and the next job gets a new server (the old socket is left behind)", async () => {
    const env = ownServer();
    const first = await timedStart(env);
    const server = procStat(first.hello.pid).ppid;
    process.kill(server, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1500)); // a worker that watched its parent would be stopping by now
    expect(first.worker.alive).toBe(true);
    const next = await timedStart(env);
    const replacement = procStat(next.hello.pid).ppid;
    ownServers.add(replacement);
    expect(replacement).not.toBe(server);
    expect(replacement).not.toBe(process.pid); // forked again, not spawned
    expect((await next.worker.stop()).code).toBe(0);
    // The orphan still obeys its engine: it shuts down when asked (its exit status had nobody to report it).
    expect(await first.worker.stop()).toMatchObject({ code: null, signal: null });
  });
});
