/**
 * createRun's preflight policy (auto | always | never) through `engine.call`, the one door every
 * client uses: the wizard and the HTTP API get the same automatic measurement as `whetstone train`.
 * `always` runs the real worker on the tiny model; the auto decision and a step that does not fit
 * are driven through the engine's plan and measurement seams (no machine here is near its limit).
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { EngineEvent } from "../../../engine/api/events";
import type { RunPlan } from "../../../engine/plan/plan";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

beforeAll(() => {
  ensureTinyModel();
});

/** An engine whose preflight events are collected; `plan` and `measureStep` are its seams. */
function setup() {
  const engine = new Engine({ home: tempHome() });
  engines.push(engine);
  const events: Extract<EngineEvent, { type: "preflight" }>[] = [];
  engine.subscribe((e) => void (e.type === "preflight" && events.push(e)));
  const seams = engine as unknown as { plan: (...a: unknown[]) => RunPlan; measureStep: (...a: unknown[]) => Promise<unknown> };
  return { engine, events, seams };
}

/** The plan the engine would make, marked near the device's limit. */
function nearLimit(seams: { plan: (...a: unknown[]) => RunPlan }) {
  const real = seams.plan.bind(seams);
  return vi.spyOn(seams, "plan").mockImplementation((...a) => ({ ...real(...a), fits: true, near_limit: true }));
}

const notFitting = (text: string) => ({ result: { fits: false }, text, advice: [], plan: {} });

describe("createRun preflight policy", () => {
  it("never: no step is measured, even near the limit", async () => {
    const { engine, events, seams } = setup();
    nearLimit(seams);
    const measure = vi.spyOn(seams, "measureStep");
    const run = await engine.call("createRun", { config: tinyConfig(), preflight: "never" });
    expect(measure).not.toHaveBeenCalled();
    expect(events).toEqual([]);
    expect(engine.listRuns().map((r) => r.id)).toEqual([run.id]);
  });

  it("auto (the default): measures only when the estimate is near or over the device's memory", async () => {
    const { engine, events, seams } = setup();
    const measure = vi.spyOn(seams, "measureStep");
    await engine.call("createRun", { config: tinyConfig() }); // the tiny model is far from any limit
    expect(measure).not.toHaveBeenCalled();
    nearLimit(seams);
    measure.mockResolvedValue(notFitting("preflight: one step of 4 × 1024 tokens peaked at 9.00 GiB: does NOT fit\n  would fit with: data.max_length 512 (estimate 3.00 GiB)"));
    const refused = engine.call("createRun", { config: tinyConfig(), preflight: "auto" });
    await expect(refused).rejects.toMatchObject({
      code: "PREFLIGHT_DOES_NOT_FIT",
      message: "preflight: one step of 4 × 1024 tokens peaked at 9.00 GiB: does NOT fit",
      details: ["would fit with: data.max_length 512 (estimate 3.00 GiB)"],
    });
    expect(events.map((e) => [e.fits, e.text.split("\n")[0]])).toEqual([
      [null, expect.stringMatching(/^preflight \(the estimate is near the device's memory\): one training step of \d+ × \d+ tokens on \S/)],
      [false, "preflight: one step of 4 × 1024 tokens peaked at 9.00 GiB: does NOT fit"],
    ]);
    expect(engine.listRuns()).toHaveLength(1); // the refused run left no folder; the first one stays
  });

  it("always: one real step in the worker, its lines in the run's log, then the run is queued", async () => {
    const { engine, events } = setup();
    const run = await engine.call("createRun", { config: tinyConfig({ training: { micro_batch_size: 2 }, data: { max_length: 128 } }), preflight: "always" });
    expect(events.map((e) => e.fits)).toEqual([null, true]);
    expect(events.every((e) => e.runId === run.id)).toBe(true);
    expect(events[0]!.text).toMatch(/^preflight \(asked for\): one training step of 2 × 128 tokens on /);
    expect(events[1]!.text).toMatch(/^preflight: one step of 2 × 128 tokens peaked at [\d.]+ GiB .*: fits$/);
    expect(engine.getLog({ id: run.id }).slice(0, 2)).toEqual(events.map((e) => e.text));
    expect(["queued", "running", "completed"]).toContain(engine.getRun({ id: run.id }).status.state);
  }, HANG_MS);

  it("a full fine-tune sharded over several devices is not measured (one process would hold it whole): the estimate stands", async () => {
    const { engine, events, seams } = setup();
    const measure = vi.spyOn(seams, "measureStep");
    const run = await engine.call("createRun", { config: tinyConfig({ finetune: "full", training: { devices: 2 } }), preflight: "always" });
    expect(measure).not.toHaveBeenCalled();
    expect(events.map((e) => [e.fits, e.text])).toEqual([[true, expect.stringMatching(/^preflight skipped: the step runs in one process, which cannot hold a full fine-tune sharded over 2 devices; the estimate stands \([\d.]+ GiB per device\)$/)]]);
    expect(engine.getLog({ id: run.id })[0]).toBe(events[0]!.text);
  });

  it("the contract checks the policy: a bad value is API_BAD_REQUEST naming the field", async () => {
    const { engine } = setup();
    await expect(engine.call("createRun", { config: tinyConfig(), preflight: "sometimes" as never })).rejects.toMatchObject({
      code: "API_BAD_REQUEST",
      message: expect.stringMatching(/^createRun: preflight: /),
    });
    expect(engine.listRuns()).toEqual([]);
  });
});
