/**
 * Sweeps end to end on the tiny model: a 5-trial learning-rate grid with one rate far too low and
 * one far too high; every trial trains its first quarter, the two planted ones are stopped there and
 * the others resume to the end; the tiny judge ranks the finished trials and picks one. A sweep whose process is killed (kill -9) mid-trial resumes: the
 * finished trial is kept, the cut one resumes from its checkpoint, the rest follow. Planning errors
 * name the field, the value and the line before anything trains.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { isAlive } from "../../../engine/runs/store";
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

describe("sweep", () => {
  it("trains every trial to its warm-up, stops the rates far too low and far too high, and lets the judge pick among the rest", async () => {
    const engine = new Engine({ home: tempHome() });
    const dir = mkdtempSync(join(tmpdir(), "whetstone-sweep-"));
    const path = configFile(dir, `  grid:\n    training.learning_rate: [3.0e-3, 1.0e-2, 1.0e-5, 1.0, 1.0e-3]\n${judging()}`);
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
    expect(events.some((s) => s.trials.every((t) => t.state === "paused" || t.state === "stopped"))).toBe(true);
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
  }, 240_000);

  it("resumes after kill -9 of the process that drove it: the finished trial kept, the cut one resumed from its checkpoint", async () => {
    const home = tempHome();
    const dir = mkdtempSync(join(tmpdir(), "whetstone-sweep-"));
    // One at a time (side by side: side-by-side.test.ts), so the first trial has finished when the second is cut.
    const path = configFile(dir, `  grid:\n    training.learning_rate: [3.0e-3, 1.0e-3, 2.0e-3]\n  early_stop: off\n  parallel: 1\n${judging()}`, 40);
    const cli = spawn(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "sweep", path], { env: { ...process.env, WHETSTONE_HOME: home }, stdio: "ignore" });
    const engine = new Engine({ home });
    const sweepJson = () => {
      const ids = engine.listSweeps();
      return ids[0] ?? null;
    };
    // Wait until the second trial has trained past its first checkpoint, then kill the CLI outright.
    let cut: { sweep: SweepStatus; runId: string } | null = null;
    for (const t0 = Date.now(); Date.now() - t0 < 180_000 && cut === null; await new Promise((r) => setTimeout(r, 200))) {
      const s = sweepJson();
      const runId = s?.trials[1]?.run_id;
      if (!s || !runId || !existsSync(join(home, "runs", runId, "status.json"))) continue;
      const run = engine.store.get(runId);
      if (run.last_checkpoint && run.step < 40) cut = { sweep: s, runId };
    }
    expect(cut, "the second trial never reached a checkpoint").not.toBeNull();
    process.kill(cli.pid!, "SIGKILL");
    await new Promise((r) => cli.once("exit", r));
    const first = cut!.sweep.trials[0]!;
    expect(first.state).toBe("completed");
    // The worker of the cut trial notices its engine is gone, checkpoints and exits.
    const workerPid = engine.store.get(cut!.runId).worker_pid;
    for (const t0 = Date.now(); workerPid !== null && isAlive(workerPid) && Date.now() - t0 < 60_000; ) await new Promise((r) => setTimeout(r, 200));
    expect(engine.getSweep({ id: cut!.sweep.id }).state).toBe("interrupted");

    const resumed = engine.resumeSweep({ id: cut!.sweep.id });
    expect(resumed.state).toBe("running");
    const done = await engine.awaitSweep({ id: cut!.sweep.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    expect(done.trials.map((t) => t.state)).toEqual(["completed", "completed", "completed"]);
    expect(done.trials[0]!.run_id).toBe(first.run_id); // not trained again
    expect(done.trials[1]!.run_id).toBe(cut!.runId); // resumed, not restarted
    const metrics = engine.getMetrics({ id: cut!.runId });
    expect(metrics.at(-1)!.step).toBe(40);
    expect(engine.getRun({ id: cut!.runId }).status.attempts).toBeGreaterThanOrEqual(2);
    expect(done.selection!.best_run).not.toBeNull();
  }, 300_000);

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
