/**
 * training.devices through the engine: the config takes a count or "auto" (sft only so far, refused
 * for other methods before any worker starts), and a run with devices 2 trains on two torchrun
 * processes on the CPU (gloo) to the same losses as one process (the worker's own test compares them
 * step by step and weight by weight: engine/worker/tests/test_distributed.py).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { validateConfig } from "../../../engine/config/load";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";

beforeAll(() => {
  ensureTinyModel();
});

describe("training.devices", () => {
  it("takes a count or auto, for sft only so far", () => {
    const base = { model: { path: "/m" }, data: { train: "/d.jsonl" } };
    expect(validateConfig({ ...base, training: { devices: 2 } }, { checkPaths: false }).training.devices).toBe(2);
    expect(validateConfig({ ...base, training: { devices: "auto" } }, { checkPaths: false }).training.devices).toBe("auto");
    expect("devices" in validateConfig(base, { checkPaths: false }).training).toBe(false);
    expect(() => validateConfig({ ...base, training: { devices: 0 } }, { checkPaths: false })).toThrow(/training.devices/);
    expect(() => validateConfig({ ...base, method: "dpo", training: { devices: 2 } }, { checkPaths: false })).toThrow(/training.devices 2: training on several devices is available for method sft only so far, and this run is dpo/);
  });

  it("trains one run on two torchrun processes", async () => {
    const runOn = async (devices: number) => {
      const engine = new Engine({ home: tempHome() });
      const run = await engine.call("createRun", { config: tinyConfig({ training: { devices, max_steps: 2, micro_batch_size: 2, gradient_accumulation: 2, neftune_alpha: 0, checkpoint_every: 2 } }), preflight: "never" });
      const done = await engine.call("awaitRun", { id: run.id });
      expect(done.state, engine.getLog({ id: run.id, tail: 40 }).join("\n")).toBe("completed");
      return { metrics: engine.getMetrics({ id: run.id }), log: readFileSync(join(engine.store.runDir(run.id), "log.txt"), "utf8") };
    };
    const two = await runOn(2);
    expect(two.metrics.map((m) => m.step)).toEqual([1, 2]);
    expect(two.log).toMatch(/Training on 2 processes \(gloo\), each forwarding its share of every step.s micro-batches/);
    expect(two.log).toMatch(/run completed/);
  }, 240_000);
});
