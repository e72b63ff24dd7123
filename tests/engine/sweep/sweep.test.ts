/**
 * Sweeps end to end on the tiny model: a 5-trial learning-rate grid with one rate far too low and
 * one far too high, two trials at a time; every trial trains its first quarter, and only when all
 * five have are they ranked together: the two planted ones are stopped there and the others resume,
 * side by side, to the end; the tiny judge ranks the finished trials and picks one. Planning errors
 * name the field, the value and the line before anything trains. (Side by side in detail, and a
 * sweep resumed after kill -9: side-by-side.test.ts.)
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { SweepStatus } from "../../../engine/sweep/schema";
import { TINY_DATA, TINY_MODEL, ensureTinyModel, tempHome } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";

let judge: string;

beforeAll(() => {
  ensureTinyModel();
  judge = ensureTinyJudge();
});

/** A sweep config file: the tiny model on the sample chats, 10% held out for the judge. */
function configFile(dir: string, sweep: string, maxSteps = 12): string {
  const path = join(dir, "sweep.yaml");
  writeFileSync(
    path,
    `name: sw
model:
  path: ${TINY_MODEL}
data:
  train: ${TINY_DATA}
  max_length: 192
  validation_split: 0.1
lora:
  r: 4
  alpha: 8
training:
  micro_batch_size: 8
  learning_rate: 3.0e-3
  checkpoint_every: 4
  max_steps: ${maxSteps}
  neftune_alpha: 0
sweep:
${sweep}`,
  );
  return path;
}

const judging = () => `  judge: ${judge}\n  limit: 3\n  max_new_tokens: 8\n`;
const twoCores = availableParallelism() >= 2;

describe("sweep", () => {
  it.skipIf(!twoCores)("trains every trial to its warm-up, stops the rates far too low and far too high, and lets the judge pick among the rest", async () => {
    const engine = new Engine({ home: tempHome() });
    const dir = mkdtempSync(join(tmpdir(), "whetstone-sweep-"));
    const path = configFile(dir, `  grid:\n    training.learning_rate: [3.0e-3, 1.0e-2, 1.0e-5, 1.0, 1.0e-3]\n  parallel: 2\n${judging()}`);
    const events: SweepStatus[] = [];
    engine.subscribe((e) => e.type === "sweep" && events.push(e.sweep));
    const started = await engine.call("startSweep", { configPath: path });
    expect(started.trials.map((t) => t.settings["training.learning_rate"])).toEqual([3e-3, 1e-2, 1e-5, 1, 1e-3]);
    const done = await engine.call("awaitSweep", { id: started.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    const byRate = (rate: number) => done.trials.find((t) => t.settings["training.learning_rate"] === rate)!;
    // All five were read at step 3 of 12 (a quarter), then ranked together by their training loss.
    for (const t of done.trials) expect(t.signals?.step, `trial ${t.index}`).toBe(3);
    const median = [...done.trials.map((t) => t.signals!.score!)].sort((a, b) => a - b)[2]!;
    for (const t of done.trials) expect(t.state, `${t.index}: ${t.reason}`).toBe(t.signals!.score! > median ? "stopped" : "completed");
    // The planted rates: 1e-5 barely moves the loss, 1.0 pushes it up; both are stopped, with why.
    for (const rate of [1e-5, 1]) {
      const t = byRate(rate);
      expect(t.state).toBe("stopped");
      expect(t.reason).toMatch(/^its training loss [\d.]+ around step 3 is worse than the median of the 5 trials/);
      expect(t.steps).toBeLessThan(12);
      expect(t.saved_steps).toBe(12 - t.steps!);
      // A stopped trial keeps its checkpoint: a cancelled run, resumable by hand.
      expect(engine.getRun({ id: t.run_id! }).status).toMatchObject({ state: "cancelled", last_checkpoint: expect.objectContaining({ step: t.steps }) });
    }
    // The survivors paused at their warm-up and resumed from that checkpoint to the end.
    const kept = done.trials.filter((t) => t.state === "completed");
    for (const t of kept) {
      const run = engine.getRun({ id: t.run_id! });
      expect(run.status).toMatchObject({ step: 12, attempts: 2 });
      expect(run.status.name).toBe(`sw-t${t.index}`);
      expect((run.config as { training: { learning_rate: number } }).training.learning_rate).toBe(t.settings["training.learning_rate"]);
      expect(engine.getMetrics({ id: t.run_id! }).map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    }
    // The rung came once every trial had been read: all paused (or stopped) before any resumed, and
    // the survivors then trained side by side.
    expect(done.side_by_side?.slots).toBe(2);
    const rung = events.findIndex((s) => s.trials.every((t) => t.state === "paused" || t.state === "stopped"));
    expect(rung).toBeGreaterThan(-1);
    expect(events.slice(0, rung).every((s) => s.trials.every((t) => t.state !== "completed"))).toBe(true);
    expect(events.slice(rung).some((s) => s.trials.filter((t) => t.state === "running").length === 2)).toBe(true);
    // The judge compared the finished trials with their base and each other and picked one of them.
    const sel = done.selection!;
    expect(kept.map((t) => t.run_id)).toContain(sel.best_run);
    expect(sel.ranking.map((r) => r.run_id).filter(Boolean).sort()).toEqual(kept.map((t) => t.run_id).sort());
    expect(sel.matches).toHaveLength(kept.length + (kept.length * (kept.length - 1)) / 2); // each vs its base, each pair
    for (const m of sel.matches) expect(m.win_rate).toBeGreaterThanOrEqual(0), expect(m.win_rate).toBeLessThanOrEqual(100);
    const report = readFileSync(join(engine.store.home, "sweeps", done.id, "sweep.md"), "utf8");
    expect(report).toContain(`| ${byRate(1).index} | training.learning_rate=1 | ${byRate(1).run_id} | stopped early: its training loss`);
    expect(report).toMatch(/Early stopping stopped 2 of 5 trials and saved \d+ of 60 planned steps/);
    expect(report).toContain(`Best: trial ${sel.best_trial} (${sel.best_run}).`);
    expect(events.at(-1)!.state).toBe("completed");
    await expect(engine.call("listSweeps", {})).resolves.toEqual([expect.objectContaining({ id: done.id, state: "completed" })]);
  }, 600_000);

  it("refuses a bad sweep before anything trains, naming the field, the value and the line", async () => {
    const engine = new Engine({ home: tempHome() });
    const dir = mkdtempSync(join(tmpdir(), "whetstone-sweep-"));
    const typo = configFile(dir, `  grid:\n    training.lerning_rate: [1.0e-3]\n`);
    await expect(engine.call("startSweep", { configPath: typo })).rejects.toMatchObject({ code: "SWEEP_GRID_INVALID", message: "sweep grid: training.lerning_rate is not a config field; did you mean training.learning_rate?" });
    const tooHigh = configFile(dir, `  grid:\n    training.learning_rate: [1.0e-3, 3]\n`);
    await expect(engine.call("startSweep", { configPath: tooHigh })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringContaining("Trial 2 of 2 (training.learning_rate=3): The config has 1 problem: training.learning_rate must be <= 1, got 3"),
      where: `${tooHigh}:19`, // the grid's line, where the 3 is
    });
    const badRule = configFile(dir, `  grid:\n    lora.r: [4, 8]\n  early_stop: sometimes\n`);
    await expect(engine.call("startSweep", { configPath: badRule })).rejects.toMatchObject({ code: "SWEEP_INVALID", message: expect.stringContaining("sweep.early_stop"), where: `${badRule}:20` });
    await expect(engine.call("startSweep", { configPath: configFile(dir, "  random: 2\n") })).rejects.toMatchObject({ code: "SWEEP_GRID_INVALID", message: "The sweep has no grid: nothing to vary." });
    const noHeldOut = configFile(dir, `  grid:\n    lora.r: [4, 8]\n`).replace(/$/, "");
    writeFileSync(noHeldOut, readFileSync(noHeldOut, "utf8").replace("  validation_split: 0.1\n", ""));
    await expect(engine.call("startSweep", { configPath: noHeldOut })).rejects.toMatchObject({ code: "SWEEP_INVALID", message: expect.stringContaining("the config holds none out") });
    // A flag's grid adds to the block's (and is checked the same way).
    await expect(engine.call("startSweep", { configPath: typo, spec: { grid: { "lora.rank": [4] } } })).rejects.toMatchObject({ code: "SWEEP_GRID_INVALID" });
    expect(engine.listSweeps()).toEqual([]);
    expect(engine.listRuns()).toEqual([]);
  });
});
