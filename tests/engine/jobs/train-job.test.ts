/**
 * The spine end to end, on the real worker and the tiny fixture model: train, kill -9 and resume
 * with identical per-step losses, cancel, queueing, and a worker-side error.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { EngineEvent } from "../../../engine/api/events";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";

beforeAll(() => {
  ensureTinyModel();
});

function lossesOf(engine: Engine, id: string): number[] {
  return engine.getMetrics({ id }).map((r) => r.loss as number);
}

/** Resolves when `predicate` holds for an engine event. */
function when(engine: Engine, predicate: (e: EngineEvent) => boolean): Promise<EngineEvent> {
  return new Promise((resolve) => {
    const on = (e: EngineEvent) => {
      if (predicate(e)) {
        engine.events.off("event", on);
        resolve(e);
      }
    };
    engine.events.on("event", on);
  });
}

describe("training runs on the real worker", () => {
  it("trains to completion: metrics every step, checkpoints kept, a PEFT adapter, loss going down; a second run queues behind it", async () => {
    const engine = new Engine({ home: tempHome() });
    const first = await engine.createRun({ config: tinyConfig({ training: { max_steps: 12, checkpoint_every: 4 } }) });
    const second = await engine.createRun({ config: tinyConfig({ name: "queued-one", training: { max_steps: 2 } }) });
    expect(engine.getRun({ id: second.id }).status.state).toBe("queued");

    const done = await engine.waitForRun(first.id);
    expect(done.state).toBe("completed");
    expect(done.error).toBeNull();
    const metrics = engine.getMetrics({ id: first.id });
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const m of metrics) {
      for (const key of ["loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "eta_s", "tokens"]) expect(m[key], key).toEqual(expect.any(Number));
    }
    const dir = engine.store.runDir(first.id);
    expect(readdirSync(join(dir, "checkpoints")).filter((d) => d.startsWith("step-")).sort()).toEqual(["step-00000008", "step-00000012"]);
    expect(existsSync(join(dir, "outputs", "adapter", "adapter_config.json"))).toBe(true);
    expect(existsSync(join(dir, "outputs", "adapter", "adapter_model.safetensors"))).toBe(true);
    expect(done.outputs.adapter).toBe(join(dir, "outputs", "adapter"));
    expect(done.last_loss!).toBeLessThan(done.first_loss!);

    expect((await engine.waitForRun(second.id)).state).toBe("completed");
  });

  it("kill -9 of the worker leaves an interrupted run that resumes to the same per-step losses as an uninterrupted one", async () => {
    const engine = new Engine({ home: tempHome() });
    const config = tinyConfig({ training: { max_steps: 16, checkpoint_every: 4, seed: 7 } });

    const reference = await engine.createRun({ config: { ...config, name: "reference" } });
    expect((await engine.waitForRun(reference.id)).state).toBe("completed");

    const victim = await engine.createRun({ config: { ...config, name: "victim" } });
    await when(engine, (e) => e.type === "metrics" && e.runId === victim.id && e.row.step === 6);
    const workerPid = engine.getRun({ id: victim.id }).status.worker_pid!;
    process.kill(workerPid, "SIGKILL");
    const interrupted = await engine.waitForRun(victim.id);
    expect(interrupted.state).toBe("interrupted");
    expect(interrupted.error?.code).toBe("WORKER_KILLED");
    expect(interrupted.error?.message).toMatch(/SIGKILL\) at step \d+\/16/);
    expect(interrupted.error?.hint).toContain("checkpoint at step 4");

    engine.resumeRun({ id: victim.id });
    const resumed = await engine.waitForRun(victim.id);
    expect(resumed.state).toBe("completed");
    expect(resumed.attempts).toBe(2);

    const want = lossesOf(engine, reference.id);
    const got = lossesOf(engine, victim.id);
    expect(got).toHaveLength(16);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `step ${i + 1}`).toBeLessThan(1e-5);
  });

  it("cancel stops at a step boundary with a checkpoint, and the run resumes to completion", async () => {
    const engine = new Engine({ home: tempHome() });
    const run = await engine.createRun({ config: tinyConfig({ training: { max_steps: 16, checkpoint_every: 50 } }) });
    await when(engine, (e) => e.type === "metrics" && e.runId === run.id && e.row.step === 3);
    const cancelled = await engine.cancelRun({ id: run.id });
    expect(cancelled.state).toBe("cancelled");
    expect(cancelled.last_checkpoint?.step).toBeGreaterThanOrEqual(3);
    expect(cancelled.step).toBe(cancelled.last_checkpoint?.step);

    engine.resumeRun({ id: run.id });
    const done = await engine.waitForRun(run.id);
    expect(done.state).toBe("completed");
    expect(engine.getMetrics({ id: run.id }).map((m) => m.step)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it("a model folder the worker cannot load fails the run with the worker's error code and hint", async () => {
    const home = tempHome();
    const broken = join(home, "broken-model");
    mkdirSync(broken);
    writeFileSync(join(broken, "config.json"), JSON.stringify({ model_type: "llama" }));
    const engine = new Engine({ home });
    const run = await engine.createRun({ config: tinyConfig({ model: { path: broken } }) });
    const done = await engine.waitForRun(run.id);
    expect(done.state).toBe("failed");
    expect(done.error?.code).toMatch(/^MODEL_/);
    expect(done.error?.hint.length).toBeGreaterThan(10);
    expect(engine.getLog({ id: run.id }).join("\n")).toContain(done.error!.code);
  });
});

describe("one training at a time across processes", () => {
  it("a run started by a second engine on the same data folder waits for the first, then runs", async () => {
    const home = tempHome();
    const a = new Engine({ home });
    const b = new Engine({ home });
    const first = await a.createRun({ config: tinyConfig({ name: "first", training: { max_steps: 6 } }) });
    await when(a, (e) => e.type === "metrics" && e.runId === first.id);
    const waited = when(b, (e) => e.type === "progress" && e.progress.phase === "waiting");
    const second = await b.createRun({ config: tinyConfig({ name: "second", training: { max_steps: 2 } }) });
    const w = await waited;
    expect(w.type === "progress" && w.runId).toBe(second.id);
    const waiting = b.getRun({ id: second.id }).status;
    expect(waiting.state).toBe("queued");
    expect(waiting.phase).toBe("waiting");
    expect(b.getLog({ id: second.id }).join("\n")).toContain(`Waiting for run ${first.id}`);
    const firstDone = await a.waitForRun(first.id);
    const secondDone = await b.waitForRun(second.id);
    expect([firstDone.state, secondDone.state]).toEqual(["completed", "completed"]);
    expect(secondDone.started_at! >= firstDone.finished_at!).toBe(true);
  });
});
