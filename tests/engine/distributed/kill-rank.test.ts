/**
 * kill -9 of one rank of a run on two devices (issue #21 item 6), on the CPU (gloo): torchrun tears
 * the group down, the run ends interrupted within a bound with the rank named (not rank 0's "connection
 * reset by peer"), no process of the run is left, and resuming gives the uninterrupted run's losses.
 * Also: when the engine itself kills the launcher (SIGKILL, which torchrun cannot pass on), the ranks,
 * each in a session of its own, go with it. Linux only (/proc).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { EngineEvent } from "../../../engine/api/events";
import { rankPids } from "../../../engine/supervisor/torchrun";
import { WorkerProcess } from "../../../engine/supervisor/worker-process";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";

beforeAll(() => {
  ensureTinyModel();
});

/** Fields of /proc/PID/stat after the command name: [state, ppid, …]; null once the process is gone. */
function stat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** A process as seen now: its start time tells it from a later process that got the same pid. */
const identity = (pid: number) => ({ pid, start: stat(pid)?.[19] });
const running = ({ pid, start }: { pid: number; start?: string }) => {
  const s = stat(pid);
  return s !== null && s[19] === start && s[0] !== "Z";
};

/**
 * The launcher's children by rank: rank 0 is the one that said hello (it speaks the protocol), the other
 * one, with two devices, is rank 1. (A rank is a fork of the launcher that set its RANK after the fork, so
 * /proc/PID/environ, the environment as it was at exec, does not show it.)
 */
function ranksOf(launcher: number, rank0: number): Map<number, number> {
  const children = rankPids(launcher);
  expect(children, "the launcher's children").toHaveLength(2);
  expect(children).toContain(rank0);
  return new Map([[0, rank0], [1, children.find((pid) => pid !== rank0)!]]);
}

function when(engine: Engine, predicate: (e: EngineEvent) => boolean): Promise<EngineEvent> {
  return new Promise((resolve) => {
    const on = (e: EngineEvent) => {
      if (!predicate(e)) return;
      engine.events.off("event", on);
      resolve(e);
    };
    engine.events.on("event", on);
  });
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (condition()) return true;
  return condition();
}

const config = tinyConfig({ training: { devices: 2, max_steps: 6, checkpoint_every: 2, micro_batch_size: 2, gradient_accumulation: 2, neftune_alpha: 0 } });

describe.skipIf(process.platform !== "linux")("a rank killed mid-run", () => {
  it("kill -9 of rank 1: the run is interrupted naming the rank, nothing is left running, and it resumes to the uninterrupted losses", async () => {
    const engine = new Engine({ home: tempHome() });
    const reference = await engine.call("createRun", { config: { ...config, name: "reference" }, preflight: "never" });
    expect((await engine.waitForRun(reference.id)).state).toBe("completed");

    const victim = await engine.call("createRun", { config: { ...config, name: "victim" }, preflight: "never" });
    await when(engine, (e) => e.type === "metrics" && e.runId === victim.id && e.row.step === 3); // past the checkpoint at step 2
    const rank0 = engine.getRun({ id: victim.id }).status.worker_pid!; // the hello's pid: rank 0 speaks the protocol
    const launcher = Number(stat(rank0)![1]);
    const ranks = ranksOf(launcher, rank0);
    const processes = [launcher, ...ranks.values()].map(identity);

    const killedAt = Date.now();
    process.kill(ranks.get(1)!, "SIGKILL");
    const interrupted = await engine.waitForRun(victim.id);
    const seconds = (Date.now() - killedAt) / 1000;
    const log = engine.getLog({ id: victim.id, tail: 60 }).join("\n");
    expect(seconds, log).toBeLessThan(60); // torchrun stops the other rank (SIGTERM, SIGKILL after 30 s)
    expect(interrupted.state, log).toBe("interrupted");
    expect(interrupted.error?.code).toBe("WORKER_KILLED");
    expect(interrupted.error?.message).toMatch(/^The worker process of rank 1 \(of 2\) was killed \(SIGKILL\) at step [3-6]\/6 /);
    expect(interrupted.error?.hint).toMatch(/^Resume with `whetstone resume .+`: it continues from the checkpoint at step [246]\./);
    expect(log).toContain("torchrun stopped the other process of the run");
    expect(processes.filter(running).map((p) => p.pid)).toEqual([]);

    engine.resumeRun({ id: victim.id });
    const resumed = await engine.waitForRun(victim.id);
    expect(resumed.state, engine.getLog({ id: victim.id, tail: 40 }).join("\n")).toBe("completed");
    expect(resumed.attempts).toBe(2);
    const want = engine.getMetrics({ id: reference.id });
    const got = engine.getMetrics({ id: victim.id });
    expect(got.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < want.length; i++) {
      const [a, b] = [got[i]!.loss as number, want[i]!.loss as number];
      expect(Math.abs(a - b) / Math.abs(b), `step ${i + 1}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-6);
    }
  }, 240_000);

  it("a launcher the engine kills (SIGKILL) takes its ranks along, even ranks that would not stop on their own", async () => {
    const { worker, hello } = await WorkerProcess.start({ devices: 2, env: { OMP_NUM_THREADS: "1" } });
    const ranks = ranksOf(worker.pid!, hello.pid);
    const processes = [...ranks.values()].map(identity);
    // Stopped, the ranks stand for ranks stuck in a collective: they cannot notice that their parent is gone.
    for (const pid of ranks.values()) process.kill(pid, "SIGSTOP");
    try {
      worker.kill("SIGKILL");
      // A rank left alive would also keep the launcher's pipes open, and with them its exit pending.
      const exit = await Promise.race([worker.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000))]);
      expect(exit?.signal).toBe("SIGKILL");
      expect(await until(() => !processes.some(running), 10_000)).toBe(true);
      expect(existsSync(join("/proc", String(worker.pid)))).toBe(false);
    } finally {
      for (const p of processes.filter(running)) process.kill(p.pid, "SIGKILL");
    }
  }, 120_000);
});
