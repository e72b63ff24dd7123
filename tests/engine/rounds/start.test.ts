/**
 * Rounds that start from a finished run (the config's init_from, the app's "Improve with rounds"): on
 * the tiny model, round 1 writes its data with that run, trains chained from it, and is judged against
 * it as well as the base, and the stop rule reads that match. A folder as init_from is refused, since
 * a folder cannot write round 1's data the way a run does; so is a run that does not exist.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { ensureTinyModel, tinyConfig } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";
import { tinyRuns } from "../eval/tiny-runs";

let judge: string;
let prompts: string;

beforeAll(() => {
  ensureTinyModel();
  judge = ensureTinyJudge();
  prompts = join(mkdtempSync(join(tmpdir(), "whetstone-rounds-start-")), "prompts.txt");
  writeFileSync(prompts, "What is 3 plus 5?\nSay hello in French.\nName a colour.\n");
});

const block = () => ({
  rounds: 1,
  synth: { method: "magpie", n: 4, prompt_tokens: 6, max_new_tokens: 5, filters: ["empty", "repeated", "refusal"] },
  prompts, judge, limit: 3, max_new_tokens: 6, stop_threshold: 0,
});

describe("rounds from a finished run", () => {
  it("round 1 writes its data with the run, trains from it and is judged against it", async () => {
    const runs = await tinyRuns();
    const engine = new Engine({ home: runs.home });
    const start = runs.ids[0]!;
    const config = { ...tinyConfig({ training: { max_steps: 4, micro_batch_size: 2, checkpoint_every: 2, neftune_alpha: 0 }, data: { max_length: 96 } }), name: "ts", init_from: "lr-high", rounds: block() };
    const started = await engine.call("startRounds", { config });
    expect(started.start_run).toBe(start); // the name resolved to the run's id
    const done = await engine.call("awaitRounds", { id: started.id });
    expect(done.state, JSON.stringify(done.error)).toBe("completed");
    const r = done.rounds[0]!;
    expect(r).toMatchObject({ synth_from: start, parent_run: start, rows: 4 });
    const rows = readFileSync(r.data, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((x) => x.synth.run)).toEqual(Array(4).fill(start));
    expect(engine.getRun({ id: r.run_id! }).status.parent).toMatchObject({ run: start, kind: "adapter" });
    expect(r.vs_previous).toMatchObject({ against: start, n: 3 });
    expect(r.vs_base).toMatchObject({ against: "base", n: 3 });
    expect(done.stopped).toMatch(/^its one round trained; the last beat the run the rounds started from \(LC /);
    expect(readFileSync(join(runs.home, "rounds", done.id, "rounds.md"), "utf8")).toContain(`starting from run ${start}, `);
    await engine.close();
  }, 300_000);

  it("refuses a folder, and a run that has not finished", async () => {
    const runs = await tinyRuns();
    const engine = new Engine({ home: runs.home });
    const folder = engine.getRun({ id: runs.ids[0]! }).status.outputs.adapter!;
    await expect(engine.call("startRounds", { config: { ...tinyConfig(), init_from: folder, rounds: block() } })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^init_from: .* is a folder; rounds start from a finished run/) });
    await expect(engine.call("startRounds", { config: { ...tinyConfig(), init_from: "no-such-run", rounds: block() } })).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    expect(engine.listRounds()).toEqual([]);
    await engine.close();
  }, 120_000);
});
