/**
 * Rounds end to end on the tiny model and the tiny judge: two rounds, each synthesizing a few magpie
 * rows with the current model (round 2: round 1's run), training a run chained from the previous
 * round's (lineage), and judged against the base and the previous round; the LC win rates are
 * recorded and the report written. Then a loop cancelled in round 2's training resumes: round 1 is
 * kept, round 2's run resumes from its checkpoint; and a `whetstone rounds` process killed outright
 * (kill -9) in round 1's training resumes from that run's checkpoint. The tiny judge is random: the stop threshold is
 * 0 so both rounds run whatever it says (the rule itself is tested on numbers in stop.test.ts).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { isAlive } from "../../../engine/runs/store";
import type { RoundsStatus } from "../../../engine/rounds/schema";
import { TINY_MODEL, ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";

let judge: string;
let prompts: string;

beforeAll(() => {
  ensureTinyModel();
  judge = ensureTinyJudge();
  prompts = join(mkdtempSync(join(tmpdir(), "whetstone-rounds-")), "prompts.txt");
  writeFileSync(prompts, "What is 3 plus 5?\nSay hello in French.\nName a colour.\n");
});

/** Small and fast: 4 rows a round, 4 steps, 3 prompts, answers of a few tokens. */
function config(name: string, maxSteps = 4) {
  return {
    ...tinyConfig({ training: { max_steps: maxSteps, micro_batch_size: 2, checkpoint_every: 2, neftune_alpha: 0 }, data: { max_length: 96 } }),
    name,
    rounds: {
      rounds: 2,
      synth: { method: "magpie", n: 4, prompt_tokens: 6, max_new_tokens: 5, filters: ["empty", "repeated", "refusal"] },
      prompts,
      judge,
      limit: 3,
      max_new_tokens: 6,
      stop_threshold: 0,
    },
  };
}

const rows = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));

describe("rounds", () => {
  it("trains two rounds with lineage, each judged against the base and the round before", async () => {
    const engine = new Engine({ home: tempHome() });
    const events: RoundsStatus[] = [];
    engine.subscribe((e) => e.type === "rounds" && events.push(e.rounds));
    const started = await engine.call("startRounds", { config: config("tr") });
    expect(started).toMatchObject({ state: "running", prompts, base_model: TINY_MODEL });
    const done = await engine.call("awaitRounds", { id: started.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    expect(done.rounds.map((r) => r.state)).toEqual(["done", "done"]);
    const [r1, r2] = done.rounds as [RoundsStatus["rounds"][0], RoundsStatus["rounds"][0]];
    // Round 1 wrote its data with the base model, round 2 with round 1's run.
    const folder = join(engine.store.home, "rounds", done.id);
    expect(r1).toMatchObject({ data: join(folder, "round-1.jsonl"), rows: 4, synth_complete: true, synth_from: TINY_MODEL, parent_run: null });
    expect(r2).toMatchObject({ data: join(folder, "round-2.jsonl"), rows: 4, synth_from: r1.run_id, parent_run: r1.run_id });
    expect(rows(r1.data).map((r) => r.synth)).toEqual(Array(4).fill(expect.objectContaining({ method: "magpie", model: TINY_MODEL, run: null, seed: 0 })));
    expect(rows(r2.data).map((r) => r.synth)).toEqual(Array(4).fill(expect.objectContaining({ run: r1.run_id, seed: 100_000 })));
    // Each round is a run trained on its file; round 2's is chained from round 1's (lineage).
    const run1 = engine.getRun({ id: r1.run_id! });
    const run2 = engine.getRun({ id: r2.run_id! });
    expect(run1.status).toMatchObject({ name: "tr-r1", state: "completed" });
    expect(run1.status.parent ?? null).toBeNull();
    expect(run2.status).toMatchObject({ name: "tr-r2", state: "completed", parent: expect.objectContaining({ run: r1.run_id, kind: "adapter" }) });
    expect((run2.config as { data: { train: string } }).data.train).toBe(r2.data);
    // The matches are recorded with their CIs, and stored in the runs as ordinary evaluations.
    for (const m of [r1.vs_base, r2.vs_base, r2.vs_previous]) {
      expect(m).toMatchObject({ n: 3 });
      expect(m!.lc_low).toBeLessThanOrEqual(m!.lc_win_rate);
      expect(m!.lc_high).toBeGreaterThanOrEqual(m!.lc_win_rate);
    }
    expect(r1.vs_previous).toBeNull();
    expect(r2.vs_previous!.against).toBe(r1.run_id);
    expect(engine.getEval({ id: r2.run_id!, against: r1.run_id! })?.summary.lc_win_rate).toBe(r2.vs_previous!.lc_win_rate);
    expect(engine.getEval({ id: r1.run_id! })?.summary.lc_win_rate).toBe(r1.vs_base!.lc_win_rate);
    expect(done.stopped).toMatch(/^both rounds trained; the last beat round 1/);
    expect(done.best_round).toBe(2);
    // State on disk, the report, and the events that followed every phase.
    expect(JSON.parse(readFileSync(join(folder, "rounds.json"), "utf8"))).toMatchObject({ id: done.id, state: "completed" });
    const report = readFileSync(join(folder, "rounds.md"), "utf8");
    expect(report).toContain(`| 2 | ${r2.run_id} | 4 | `);
    expect(report).toContain(`Best: round 2 (${r2.run_id}).`);
    const phases = events.flatMap((s) => s.rounds.map((r) => `${r.index}:${r.state}`));
    for (const p of ["1:synthesizing", "1:training", "1:evaluating", "1:done", "2:synthesizing", "2:training", "2:evaluating", "2:done"]) expect(phases).toContain(p);
    await expect(engine.call("resumeRounds", { id: done.id })).rejects.toMatchObject({ code: "ROUNDS_COMPLETED" });
    expect(engine.listRounds().map((s) => s.id)).toEqual([done.id]);
  }, 300_000);

  it("cancelled while round 2 trains, resumes: round 1 kept, round 2's run resumed from its checkpoint", async () => {
    const engine = new Engine({ home: tempHome() });
    const started = await engine.call("startRounds", { config: config("tc", 12) });
    let cancelled: Promise<RoundsStatus> | null = null;
    engine.subscribe((e) => {
      if (cancelled === null && e.type === "metrics" && e.row.step >= 3) {
        const s = engine.getRounds({ id: started.id });
        if (s.rounds[1]?.run_id === e.runId) cancelled = engine.call("cancelRounds", { id: started.id });
      }
    });
    const stopped = await engine.call("awaitRounds", { id: started.id });
    expect(stopped.state).toBe("cancelled");
    expect(stopped.rounds[0]!.state).toBe("done");
    const cut = stopped.rounds[1]!;
    expect(cut.state).toBe("training");
    expect(engine.getRun({ id: cut.run_id! }).status).toMatchObject({ state: "cancelled", last_checkpoint: expect.objectContaining({ step: expect.any(Number) }) });
    const round1 = stopped.rounds[0]!;
    engine.resumeRounds({ id: started.id });
    const done = await engine.call("awaitRounds", { id: started.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    expect(done.rounds[0]).toEqual(round1); // not redone
    expect(done.rounds[1]!.run_id).toBe(cut.run_id);
    expect(engine.getRun({ id: cut.run_id! }).status).toMatchObject({ state: "completed", step: 12, attempts: 2 });
    expect(done.rounds[1]!.vs_previous).not.toBeNull();
    expect(existsSync(join(engine.store.home, "rounds", done.id, "rounds.md"))).toBe(true);
  }, 300_000);

  it("a `whetstone rounds` process killed with kill -9 mid-training shows as interrupted and resumes its cut run", async () => {
    const home = tempHome();
    const dir = mkdtempSync(join(tmpdir(), "whetstone-rounds-"));
    const path = join(dir, "rounds.yaml");
    const c = config("tk", 40);
    writeFileSync(path, JSON.stringify({ ...c, rounds: { ...c.rounds, rounds: 1 } }));
    const cli = spawn(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "rounds", path], { env: { ...process.env, WHETSTONE_HOME: home }, stdio: "ignore" });
    const engine = new Engine({ home });
    let cut: { id: string; runId: string } | null = null;
    for (const t0 = Date.now(); Date.now() - t0 < 180_000 && cut === null; await new Promise((r) => setTimeout(r, 200))) {
      const s = engine.listRounds()[0];
      const runId = s?.rounds[0]?.run_id;
      if (s && runId && (engine.getRun({ id: runId }).status.last_checkpoint?.step ?? 0) >= 2) cut = { id: s.id, runId };
    }
    expect(cut, "round 1's run reached its first checkpoint").not.toBeNull();
    cli.kill("SIGKILL");
    await new Promise((r) => cli.once("exit", r));
    expect(engine.getRounds({ id: cut!.id })).toMatchObject({ state: "interrupted", owner_pid: null });
    engine.resumeRounds({ id: cut!.id });
    const done = await engine.call("awaitRounds", { id: cut!.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    expect(done.rounds).toHaveLength(1);
    expect(done.rounds[0]).toMatchObject({ run_id: cut!.runId, state: "done", rows: 4 });
    const run = engine.getRun({ id: cut!.runId }).status;
    expect(run).toMatchObject({ state: "completed", step: 40 });
    expect(run.attempts).toBeGreaterThanOrEqual(2);
    expect(run.worker_pid === null || !isAlive(run.worker_pid)).toBe(true);
  }, 300_000);
});
