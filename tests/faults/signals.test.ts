/**
 * Signals and deaths on the real CLI and worker, checked against one uninterrupted reference run:
 * Ctrl-C (SIGINT to the CLI's process group) checkpoints then stops; a leftover cancel.request does
 * not cancel the resume; the CLI killed with -9 takes its worker down within seconds, with a
 * checkpoint and the metrics of every step it trained; the worker killed with -9 leaves the run
 * interrupted with WORKER_KILLED; and after all that the run's per-step losses equal the reference's.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../engine/api/engine";
import { RunStore, isAlive } from "../../engine/runs/store";
import { ensureTinyModel, tempHome } from "../helpers/fixture";
import { onlyRun, runCli, startCli, stepReached, until, waitGone, writeConfig } from "./cli";

// Enough steps that the run is still training after each interruption. A step of the tiny model takes
// ~30 ms on an idle machine and a poll of the metrics 100 ms, so a stop lands several steps after the
// step a test waited for (Ctrl-C at step 2 checkpointed at 7): with 10 steps the resumed run sometimes
// finished before its worker was killed, and with 16 before it noticed its CLI was killed (it saved
// all 16 steps instead of stopping with a checkpoint). 40 steps cost ~1 CPU-s more per run.
const TRAINING = { max_steps: 40, checkpoint_every: 100, seed: 7 };
let reference: Promise<number[]>;

beforeAll(() => {
  ensureTinyModel();
  // The uninterrupted reference trains in its own data home, alongside the victim (time is the
  // suite's budget); it is awaited only where its losses are compared.
  reference = (async () => {
    const engine = new Engine({ home: tempHome() });
    const run = await engine.createRun({ configPath: writeConfig(engine.store.home, "reference", TRAINING) });
    expect((await engine.waitForRun(run.id)).state).toBe("completed");
    return engine.getMetrics({ id: run.id }).map((m) => m.loss as number);
  })();
  reference.catch(() => {}); // reported where it is awaited, not as an unhandled rejection first
});

describe("Ctrl-C, stale cancel files and a killed CLI", () => {
  it("checkpoint first, nothing lost, and the resumed run matches the uninterrupted one step for step", async () => {
    const home = tempHome();
    const store = new RunStore(home);
    const config = writeConfig(home, "victim", TRAINING);

    // 1. Ctrl-C: the terminal signals the CLI's whole process group; the worker has its own.
    const first = startCli(["train", config], home);
    const id = (await until("the run", () => onlyRun(home))).id;
    await stepReached(home, id, 2);
    process.kill(-first.child.pid!, "SIGINT");
    expect(await first.exited).toBe(130);
    expect(first.out()).toContain("Cancelling: the run stops at the next step and writes a checkpoint");
    const cancelled = store.get(id);
    expect(cancelled.state).toBe("cancelled");
    expect(cancelled.last_checkpoint?.step).toBe(cancelled.step);
    const log = store.readLog(id, 10_000).join("\n");
    expect(log).not.toContain("KeyboardInterrupt");
    expect(log).not.toContain("WORKER_STOPPED");

    // 2. A leftover cancel request (a crash's, or one left by hand) does not cancel the resume.
    writeFileSync(join(store.runDir(id), "cancel.request"), JSON.stringify({ attempt_id: "an-old-attempt", requested_at: "2026-01-01T00:00:00Z" }));
    const second = startCli(["resume", id], home);
    await until("the resume line", () => second.out().includes("resuming ") || undefined);
    expect(second.out()).toContain(`resuming ${id} from the checkpoint at step ${cancelled.step}`);
    await stepReached(home, id, cancelled.step + 2);
    expect(store.get(id).state).toBe("running");

    // 3. kill -9 of the CLI: the worker notices, checkpoints the steps it trained, records them, exits.
    const worker = store.get(id).worker_pid!;
    expect(isAlive(worker)).toBe(true);
    process.kill(second.child.pid!, "SIGKILL");
    const killedAt = Date.now();
    await second.exited;
    // While the orphaned worker writes its checkpoint the run still reads as running (a resume now
    // would race it); read the state first: a worker alive after that was alive during the read.
    const stateWhileStopping = store.get(id).state;
    if (isAlive(worker)) expect(stateWhileStopping).toBe("running");
    await waitGone(worker);
    const lingered = (Date.now() - killedAt) / 1000;
    console.log(`worker exited ${lingered.toFixed(1)} s after the CLI was killed`);
    const steps = readdirSync(join(store.runDir(id), "checkpoints")).filter((d) => d.startsWith("step-"));
    const newest = Math.max(...steps.map((d) => Number(d.slice(5))));
    expect(newest).toBeGreaterThanOrEqual(cancelled.step + 2);
    expect(store.readMetrics(id).map((m) => m.step)).toEqual(Array.from({ length: newest }, (_, i) => i + 1));
    expect(readFileSync(join(store.runDir(id), "log.txt"), "utf8")).toContain(`The engine that ran this job is gone; stopped with a checkpoint at step ${newest}`);
    const orphaned = runCli(["show", id], home);
    expect(orphaned.out).toMatch(/state +interrupted/);
    expect(orphaned.out).toContain("ENGINE_EXITED");

    // 4. Resume reports the checkpoint the worker really continues from (status.json never heard of it);
    //    then kill -9 of the worker one step later: interrupted, diagnosed, back to that checkpoint.
    const third = startCli(["resume", id], home);
    await until("the resume line", () => third.out().includes("resuming ") || undefined);
    expect(third.out()).toContain(`resuming ${id} from the checkpoint at step ${newest}`);
    await stepReached(home, id, newest + 1);
    process.kill(store.get(id).worker_pid!, "SIGKILL");
    expect(await third.exited).toBe(3);
    expect(third.out()).toContain("error[WORKER_KILLED]: The worker was killed (SIGKILL)");
    expect(third.out()).toContain(`it continues from the checkpoint at step ${newest}`);

    const last = runCli(["resume", id], home);
    expect(last.code).toBe(0);
    expect(last.out).toContain(`resuming ${id} from the checkpoint at step ${newest}`);
    expect(last.out).toContain("completed:");

    const want = await reference;
    const got = store.readMetrics(id).map((m) => m.loss as number);
    expect(got).toHaveLength(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `step ${i + 1}`).toBeLessThan(1e-6);
  });
});
