/**
 * A sweep's trials side by side, on the tiny model (issue #19 item 2):
 *
 *  - `auto` takes the number from the engine's own plan of each trial and the free memory it is
 *    given (the machine's figure stands in for a test: it changes with whatever else runs);
 *  - with `parallel: 2`, a 4-trial sweep runs its trials two at a time (their runs' own start and end
 *    times overlap, never three at once), each on one of this CPU's two cores, and a trial's final
 *    loss equals the same trial's in a sweep run one at a time (of its first two rates): exactly, since the trials have the same
 *    seeds and torch's CPU kernels give the same sums on one thread as on two (measured: identical);
 *  - kill -9 of the process with the second pair of trials in flight: the sweep keeps the finished
 *    pair and resumes both cut trials from their checkpoints, side by side again.
 * (Early stopping with trials side by side: sweep.test.ts.)
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { withMargin } from "../../../engine/plan/side-by-side";
import { isAlive } from "../../../engine/runs/store";
import type { SweepStatus } from "../../../engine/sweep/schema";
import { sideBySide } from "../../../engine/sweep/side-by-side";
import { SweepStore } from "../../../engine/sweep/store";
import { newSweepStatus, planSweep } from "../../../engine/sweep/sweep";
import { TINY_DATA, TINY_MODEL, ensureTinyModel, tempHome } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";

let judge: string;

beforeAll(() => {
  ensureTinyModel();
  judge = ensureTinyJudge();
});

const base = (maxSteps = 12) => ({
  name: "sbs",
  model: { path: TINY_MODEL },
  data: { train: TINY_DATA, max_length: 192, validation_split: 0.1 },
  lora: { r: 4, alpha: 8 },
  training: { micro_batch_size: 8, learning_rate: 3e-3, checkpoint_every: 4, max_steps: maxSteps, neftune_alpha: 0 },
});
const RATES = [3e-3, 1e-2, 1e-3, 2e-3];
const judging = () => ({ judge, limit: 3, max_new_tokens: 8 });
const twoCores = availableParallelism() >= 2;

/** [start, end] of each trial's run, in ms, from the runs' own status. */
function spans(engine: Engine, sweep: SweepStatus): [number, number][] {
  return sweep.trials.map((t) => {
    const run = engine.store.get(t.run_id!);
    return [Date.parse(run.started_at!), Date.parse(run.finished_at!)];
  });
}
/** The most runs training at one instant. */
function mostAtOnce(s: [number, number][]): number {
  return Math.max(...s.map(([start]) => s.filter(([a, b]) => a <= start && start < b).length));
}

describe("sweep trials side by side", () => {
  it("auto: as many as the plan of each trial says fit in the free memory, within the cores and the cap", async () => {
    const engine = new Engine({ home: tempHome() });
    const store = new SweepStore(engine.store.home);
    const status = (parallel: "auto" | number) => {
      const input = { raw: base(), baseDir: PROJECT_ROOT, configPath: null, name: "sbs", block: { grid: { "training.learning_rate": RATES }, parallel }, overrides: {} };
      const { spec, trials } = planSweep(input);
      return newSweepStatus(store, input, spec, trials);
    };
    const peak = (await engine.planRun({ config: base(), baseDir: PROJECT_ROOT })).estimate.total;
    const per = withMargin(peak);
    const free = (freeBytes: number, cores: number) => (device: { kind: "cuda" | "cpu"; name: string }) => ({ kind: device.kind, name: device.name, freeBytes, cores });
    // Memory for three and a half trials, eight cores: three, the cores split 2 each.
    const s = status("auto");
    const three = await sideBySide(engine, s, s.trials, free(3.5 * per, 8));
    expect(three.decision).toMatchObject({ slots: 3, limit: "memory", perTrainingBytes: per, threads: 2 });
    expect(three.share).toMatchObject({ slots: 3, budgetBytes: 3.5 * per });
    // Plenty of memory: as many as the cores (2 here), or all four on 16 cores.
    expect((await sideBySide(engine, s, s.trials, free(100 * per, 2))).decision).toMatchObject({ slots: 2, limit: "cores", threads: 1 });
    expect((await sideBySide(engine, s, s.trials, free(100 * per, 16))).decision).toMatchObject({ slots: 4, limit: "trainings", threads: 4 });
    // Memory for one and a half: one at a time, and no share (the trials queue like any run).
    const one = await sideBySide(engine, s, s.trials, free(1.5 * per, 16));
    expect(one.decision).toMatchObject({ slots: 1, limit: "memory" });
    expect(one.share).toBeUndefined();
    // The cap.
    const capped = status(2);
    expect((await sideBySide(engine, capped, capped.trials, free(100 * per, 16))).decision).toMatchObject({ slots: 2, limit: "cap" });
    const single = status(1);
    expect((await sideBySide(engine, single, single.trials, free(100 * per, 16))).decision).toMatchObject({ slots: 1, limit: "cap", text: "one at a time, as chosen" });
  });

  it.skipIf(!twoCores)("with parallel 2 trains two trials at a time, one core each, to the same losses as one at a time", async () => {
    const sweeps: { engine: Engine; sweep: SweepStatus }[] = [];
    // The one-at-a-time reference needs only the first two rates: a trial's losses depend on its own settings and seed.
    for (const [parallel, rates] of [[2, RATES], [1, RATES.slice(0, 2)]] as const) {
      const engine = new Engine({ home: tempHome() });
      const spec = { grid: { "training.learning_rate": [...rates] }, early_stop: "off" as const, ...judging() };
      const started = await engine.call("startSweep", { config: base(), baseDir: PROJECT_ROOT, spec: { ...spec, parallel } });
      const sweep = await engine.call("awaitSweep", { id: started.id });
      expect(sweep.state, JSON.stringify(sweep.error)).toBe("completed");
      sweeps.push({ engine, sweep });
    }
    const [side, seq] = sweeps as [{ engine: Engine; sweep: SweepStatus }, { engine: Engine; sweep: SweepStatus }];
    expect(side.sweep.side_by_side).toMatchObject({ slots: 2, threads: 1, text: expect.stringMatching(/^2 at a time.*: each needs about \d+\.\d GB, with a safety margin, of the \d+ GB of memory free/) });
    expect(seq.sweep.side_by_side).toMatchObject({ slots: 1, text: "one at a time, as chosen" });
    // Side by side: the first two runs overlap, and never more than two train at once; one after another: never two.
    const s = spans(side.engine, side.sweep);
    expect(s[1]![0]).toBeLessThan(s[0]![1]);
    expect(s[0]![0]).toBeLessThan(s[1]![1]);
    expect(mostAtOnce(s)).toBe(2);
    expect(mostAtOnce(spans(seq.engine, seq.sweep))).toBe(1);
    for (const t of side.sweep.trials) {
      expect((side.engine.store.config(t.run_id!).training as { threads?: number }).threads).toBe(1);
      expect(side.engine.getLog({ id: t.run_id! }).join("\n")).toContain("CPU threads: 1 (training.threads)"); // the worker applied it
    }
    for (const t of seq.sweep.trials) expect(seq.engine.store.config(t.run_id!).training).not.toHaveProperty("threads");
    // The same seeds: the same losses, to the last bit.
    const paired = side.sweep.trials.slice(0, seq.sweep.trials.length);
    expect(paired.map((t) => t.settings)).toEqual(seq.sweep.trials.map((t) => t.settings));
    expect(paired.map((t) => t.final_loss)).toEqual(seq.sweep.trials.map((t) => t.final_loss));
    expect(paired.map((t) => t.val_loss)).toEqual(seq.sweep.trials.map((t) => t.val_loss));
    for (const [i, t] of paired.entries()) {
      expect(side.engine.getMetrics({ id: t.run_id! }).map((m) => m.loss)).toEqual(seq.engine.getMetrics({ id: seq.sweep.trials[i]!.run_id! }).map((m) => m.loss));
    }
  }, 600_000);

  it.skipIf(!twoCores)("resumes after kill -9 with two trials in flight: the finished ones kept, both cut ones go on from their checkpoints", async () => {
    const home = tempHome();
    const dir = mkdtempSync(join(tmpdir(), "whetstone-sbs-"));
    const path = join(dir, "sweep.yaml");
    writeFileSync(
      path,
      `name: sbs\nmodel:\n  path: ${TINY_MODEL}\ndata:\n  train: ${TINY_DATA}\n  max_length: 192\n  validation_split: 0.1\nlora:\n  r: 4\n  alpha: 8\ntraining:\n  micro_batch_size: 8\n  learning_rate: 3.0e-3\n  checkpoint_every: 4\n  max_steps: 40\n  neftune_alpha: 0\nsweep:\n  grid:\n    training.learning_rate: [3.0e-3, 1.0e-3, 2.0e-3, 5.0e-3]\n  early_stop: off\n  judge: ${judge}\n  limit: 3\n  max_new_tokens: 8\n`,
    );
    const cli = spawn(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "sweep", path, "--parallel", "2"], { env: { ...process.env, WHETSTONE_HOME: home }, stdio: "ignore" });
    const engine = new Engine({ home });
    // Wait until the first pair has finished and the second has both trained past a checkpoint, then kill the CLI outright.
    let cut: SweepStatus | null = null;
    for (const t0 = Date.now(); Date.now() - t0 < 300_000 && cut === null; await new Promise((r) => setTimeout(r, 200))) {
      const s = engine.listSweeps()[0];
      const ids = s?.trials.slice(2).map((t) => t.run_id);
      if (!s || !ids || ids.some((id) => !id || !existsSync(join(home, "runs", id, "status.json")))) continue;
      const runs = ids.map((id) => engine.store.get(id!));
      if (runs.every((r) => r.last_checkpoint && r.step < 40)) cut = s;
    }
    expect(cut, "the second pair of trials never both reached a checkpoint").not.toBeNull();
    process.kill(cli.pid!, "SIGKILL");
    await new Promise((r) => cli.once("exit", r));
    const [finished, inFlight] = [cut!.trials.slice(0, 2).map((t) => t.run_id!), cut!.trials.slice(2).map((t) => t.run_id!)];
    expect(cut!.side_by_side?.slots).toBe(2);
    expect(cut!.trials.map((t) => t.state)).toEqual(["completed", "completed", "running", "running"]);
    // Their workers notice the engine is gone, checkpoint and exit.
    for (const id of inFlight) {
      const pid = engine.store.get(id).worker_pid;
      for (const t0 = Date.now(); pid !== null && isAlive(pid) && Date.now() - t0 < 60_000; ) await new Promise((r) => setTimeout(r, 200));
    }
    expect(engine.getSweep({ id: cut!.id }).state).toBe("interrupted");

    expect(engine.resumeSweep({ id: cut!.id }).state).toBe("running");
    const done = await engine.awaitSweep({ id: cut!.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    expect(done.trials.map((t) => t.state)).toEqual(["completed", "completed", "completed", "completed"]);
    expect(done.trials.map((t) => t.run_id)).toEqual([...finished, ...inFlight]); // resumed, not restarted
    for (const id of finished) expect(engine.getRun({ id }).status.attempts, "a finished trial is not trained again").toBe(1);
    for (const id of inFlight) {
      expect(engine.getRun({ id }).status.attempts).toBeGreaterThanOrEqual(2);
      expect(engine.getMetrics({ id }).map((m) => m.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    }
    expect(mostAtOnce(spans(engine, done).slice(2))).toBe(2); // the resumed pair, side by side again
    expect(done.selection!.best_run).not.toBeNull();
  }, 600_000);
});
