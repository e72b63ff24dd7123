/**
 * Rounds with the dpo option on the tiny model and the tiny judge: one round synthesizes with two
 * answers per prompt (the judge picks the best for the SFT run), makes preference pairs of the same
 * judged answers, and trains a DPO run chained from the round's SFT run, which is then the round's
 * model (judged against the base). The pairs file passes the dpo data check and holds exactly the
 * judge's best (the SFT row's answer) against its worst. Then a loop cancelled while its DPO run
 * trains resumes: the SFT run and the pairs are kept, the DPO run resumes from its checkpoint.
 * The tiny judge barely prefers anything, so the margin is 0 (identical answers are still dropped).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { RoundsStatus } from "../../../engine/rounds/schema";
import { pick } from "../../../engine/synth/select";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";

let judge: string;
let prompts: string;

beforeAll(() => {
  ensureTinyModel();
  judge = ensureTinyJudge();
  prompts = join(mkdtempSync(join(tmpdir(), "whetstone-rounds-dpo-")), "prompts.txt");
  writeFileSync(prompts, "What is 3 plus 5?\nSay hello in French.\nName a colour.\n");
});

function config(name: string, dpoSteps: number) {
  return {
    ...tinyConfig({ training: { max_steps: 4, micro_batch_size: 2, checkpoint_every: 2, neftune_alpha: 0 }, data: { max_length: 96 } }),
    name,
    rounds: {
      rounds: 1,
      synth: { method: "magpie", n: 4, prompt_tokens: 6, max_new_tokens: 5, filters: ["empty", "repeated", "refusal"], responses: 2, response_temperatures: [0.7, 1.3] },
      prompts,
      judge,
      limit: 3,
      max_new_tokens: 6,
      stop_threshold: 0,
      dpo: { min_margin: 0, training: { max_steps: dpoSteps, checkpoint_every: 2, learning_rate: 1e-3 } },
    },
  };
}

const rows = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));

describe("rounds with dpo", () => {
  it("trains an SFT run, then a DPO run chained from it on the judge's pairs, and judges the DPO run", async () => {
    const engine = new Engine({ home: tempHome() });
    const events: RoundsStatus[] = [];
    engine.subscribe((e) => e.type === "rounds" && events.push(e.rounds));
    const started = await engine.call("startRounds", { config: config("td", 4) });
    const done = await engine.call("awaitRounds", { id: started.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    const r = done.rounds[0]!;
    expect(r).toMatchObject({ state: "done", rows: 4, pairs: r.data.replace(/\.jsonl$/, "-pairs.jsonl") });
    expect(r.dpo_run_id).not.toBeNull();
    expect(r.dpo_run_id).not.toBe(r.run_id);
    // Lineage: the SFT run from the base, the DPO run from the SFT run, on the pairs.
    const sft = engine.getRun({ id: r.run_id! });
    const dpo = engine.getRun({ id: r.dpo_run_id! });
    expect(sft.status).toMatchObject({ name: "td-r1", method: "sft", state: "completed" });
    expect(sft.status.parent ?? null).toBeNull();
    expect(dpo.status).toMatchObject({ name: "td-r1-dpo", method: "dpo", state: "completed", step: 4, parent: expect.objectContaining({ run: r.run_id, kind: "adapter" }) });
    expect(dpo.config).toMatchObject({ method: "dpo", data: { train: r.pairs, validation: null }, training: { max_steps: 4, learning_rate: 1e-3 } });
    // The pairs: every row of the round's data with two distinct judged answers, best (the SFT row's answer) against worst.
    const data = rows(r.data);
    const pairs = rows(r.pairs!);
    expect(pairs.length).toBe(r.pair_rows);
    expect(pairs.length + r.pairs_dropped!).toBe(data.length);
    expect(pairs.length).toBeGreaterThan(0);
    for (const p of pairs) {
      const source = data[p.synth.source_line - 1];
      const judged = source.synth.responses.filter((x: { score: number | null }) => x.score !== null);
      const expected = pick(judged, judged.map((x: { score: number }) => x.score));
      expect(p.prompt).toEqual(source.messages.slice(0, -1));
      expect(p.chosen).toEqual([source.messages.at(-1)]);
      expect(p.rejected[0].content).toBe(judged.find((x: { j: number }) => x.j === expected.worst).text);
      expect(p.chosen[0].content).not.toBe(p.rejected[0].content);
    }
    const check = await engine.inspectDataset({ path: r.pairs!, method: "dpo" });
    expect(check.issues.filter((i) => i.severity === "error")).toEqual([]);
    expect(check).toMatchObject({ kind: "preference", trainable: true });
    // The round's model is the DPO run: it is the one judged against the base.
    expect(r.vs_base).toMatchObject({ n: 3 });
    expect(engine.getEval({ id: r.dpo_run_id! })?.summary.lc_win_rate).toBe(r.vs_base!.lc_win_rate);
    expect(engine.getEval({ id: r.run_id! })).toBeNull();
    const phases = events.flatMap((s) => s.rounds.map((x) => x.state));
    expect(phases.indexOf("training")).toBeLessThan(phases.indexOf("pairing"));
    expect(phases.indexOf("pairing")).toBeLessThan(phases.indexOf("dpo"));
    expect(phases.indexOf("dpo")).toBeLessThan(phases.indexOf("evaluating"));
    const report = readFileSync(join(engine.store.home, "rounds", done.id, "rounds.md"), "utf8");
    expect(report).toContain(`| 1 | ${r.run_id} → ${r.dpo_run_id} | 4 / ${r.pair_rows} | `);
    expect(report).toContain(`Best: round 1 (${r.dpo_run_id}).`);
    await engine.close();
  }, 300_000);

  it("cancelled while the DPO run trains, resumes: the SFT run and the pairs kept, the DPO run resumed from its checkpoint", async () => {
    const engine = new Engine({ home: tempHome() });
    const started = await engine.call("startRounds", { config: config("tdc", 12) });
    let cancelled: Promise<RoundsStatus> | null = null;
    engine.subscribe((e) => {
      if (cancelled === null && e.type === "metrics" && e.row.step >= 3 && engine.getRounds({ id: started.id }).rounds[0]?.dpo_run_id === e.runId) {
        cancelled = engine.call("cancelRounds", { id: started.id });
      }
    });
    const stopped = await engine.call("awaitRounds", { id: started.id });
    expect(stopped.state).toBe("cancelled");
    const cut = stopped.rounds[0]!;
    expect(cut).toMatchObject({ state: "dpo", dpo_run_id: expect.any(String) });
    expect(engine.getRun({ id: cut.dpo_run_id! }).status).toMatchObject({ state: "cancelled", last_checkpoint: expect.objectContaining({ step: expect.any(Number) }) });
    const pairsBefore = readFileSync(cut.pairs!, "utf8");
    engine.resumeRounds({ id: started.id });
    const done = await engine.call("awaitRounds", { id: started.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    const r = done.rounds[0]!;
    expect(r).toMatchObject({ state: "done", run_id: cut.run_id, dpo_run_id: cut.dpo_run_id, pairs: cut.pairs, pair_rows: cut.pair_rows });
    expect(readFileSync(r.pairs!, "utf8")).toBe(pairsBefore);
    expect(engine.getRun({ id: cut.run_id! }).status).toMatchObject({ state: "completed", attempts: 1 });
    expect(engine.getRun({ id: cut.dpo_run_id! }).status).toMatchObject({ state: "completed", step: 12, attempts: 2 });
    expect(r.vs_base).not.toBeNull();
    expect(engine.store.list().map((s) => s.id).sort()).toEqual([cut.run_id, cut.dpo_run_id].sort()); // nothing trained twice
    await engine.close();
  }, 300_000);
});
