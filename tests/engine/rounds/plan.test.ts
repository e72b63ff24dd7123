/**
 * Planning rounds (engine/rounds/plan.ts) refuses a bad block before anything runs, naming the field
 * and its line: a round count ≤ 0 (in the file or as --rounds), an unknown field, a synthesis option
 * the round sets itself, a missing method, a config without evaluation prompts, and a dpo option
 * without judged answers to pair or with a bad setting of its run. Nothing trains.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { dpoConfig, synthOptions } from "../../../engine/rounds/plan";
import { RoundsSpecSchema } from "../../../engine/rounds/schema";
import { TINY_DATA, TINY_MODEL, ensureTinyModel, tempHome } from "../../helpers/fixture";

let engine: Engine;
let dir: string;
let prompts: string;

beforeAll(() => {
  ensureTinyModel();
  engine = new Engine({ home: tempHome() });
  dir = mkdtempSync(join(tmpdir(), "whetstone-rounds-plan-"));
  prompts = join(dir, "prompts.txt");
  writeFileSync(prompts, "What is 2 plus 2?\nSay hello.\n");
});

/** A config file with the given rounds block (indented under `rounds:`), its lines counted from 1. */
function configFile(block: string, data = `  validation: ${TINY_DATA}\n`): string {
  const path = join(dir, `rounds-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(path, `name: rp\nmodel:\n  path: ${TINY_MODEL}\ndata:\n${data}rounds:\n${block}`);
  return path;
}

const synth = "  synth:\n    method: magpie\n    n: 4\n";

describe("rounds planning", () => {
  it("refuses rounds ≤ 0 at its line, and --rounds 0 by its flag", async () => {
    const path = configFile(`  rounds: 0\n${synth}`);
    await expect(engine.call("startRounds", { configPath: path })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: "rounds.rounds: give 1 or more: each round synthesizes, trains and is judged once", where: `${path}:7` });
    await expect(engine.call("startRounds", { configPath: configFile(synth), spec: { rounds: -2 } })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^--rounds: give 1 or more/), where: undefined });
  });

  it("names an unknown field and a bad synthesis option with their lines", async () => {
    const typo = configFile(`${synth}  stop_at: 40\n`);
    await expect(engine.call("startRounds", { configPath: typo })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^rounds\.stop_at: /), where: `${typo}:10` });
    const owned = configFile(`  synth:\n    method: magpie\n    n: 4\n    out: /tmp/x.jsonl\n`);
    await expect(engine.call("startRounds", { configPath: owned })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^rounds\.synth\.out: each round sets it/), where: `${owned}:10` });
    const wrong = configFile(`  synth:\n    method: magpie\n    n: 4\n    max_new_tokens: many\n`);
    await expect(engine.call("startRounds", { configPath: wrong })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^rounds\.synth\.max_new_tokens: /), where: `${wrong}:10` });
    const none = configFile(`  synth:\n    n: 4\n`);
    await expect(engine.call("startRounds", { configPath: none })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^rounds\.synth\.method: missing/) });
    const zero = configFile(`  synth:\n    method: magpie\n    n: 0\n`);
    await expect(engine.call("startRounds", { configPath: zero })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: "rounds.synth.n: 0 rows trains nothing; give 1 or more.", where: `${zero}:9` });
  });

  it("refuses a config without evaluation prompts (a held-out split of the synthesized data will not do)", async () => {
    const path = configFile(synth, "  validation_split: 0.1\n");
    await expect(engine.call("startRounds", { configPath: path })).rejects.toMatchObject({ code: "ROUNDS_NO_PROMPTS", message: expect.stringContaining("neither rounds.prompts nor data.validation") });
    const missing = configFile(`${synth}  prompts: nowhere.txt\n`);
    await expect(engine.call("startRounds", { configPath: missing })).rejects.toMatchObject({ code: "ROUNDS_NO_PROMPTS", message: `rounds.prompts: no file at ${join(dir, "nowhere.txt")}`, where: `${missing}:10` });
    expect(engine.listRounds()).toEqual([]);
  });

  it("passes the block's synthesis options through, sets the round's model and file, and moves the seed per round", () => {
    const spec = RoundsSpecSchema.parse({ synth: { method: "fewshot", n: 5, seeds: "seeds.jsonl", max_new_tokens: 9, seed: 3 } });
    const first = synthOptions(spec, { baseDir: dir, prompts, out: "/tmp/r1.jsonl", model: TINY_MODEL, run: null, round: 1 });
    expect(first).toMatchObject({ method: "fewshot", n: 5, seeds: join(dir, "seeds.jsonl"), maxNewTokens: 9, seed: 3, out: "/tmp/r1.jsonl", model: TINY_MODEL, run: null, evalPrompts: prompts });
    const second = synthOptions(spec, { baseDir: dir, prompts, out: "/tmp/r2.jsonl", model: TINY_MODEL, run: "rp-r1", round: 2 });
    expect(second).toMatchObject({ run: "rp-r1", model: null, seed: 100_003 });
  });

  it("refuses dpo without two answers per prompt to pair, and a bad setting of the DPO run at its line", async () => {
    const one = configFile(`${synth}  dpo: {}\n`);
    await expect(engine.call("startRounds", { configPath: one })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^rounds\.dpo: each round's DPO pairs are the judge's best and worst/), hint: expect.stringContaining("rounds.synth.responses to 2 or more"), where: `${one}:10` });
    // --dpo turns it on over a block without it: the same check.
    await expect(engine.call("startRounds", { configPath: configFile(synth), spec: { dpo: true } as never })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^--dpo: each round's DPO pairs/) });
    const judged = `  synth:\n    method: magpie\n    n: 4\n    responses: 2\n`;
    const bad = configFile(`${judged}  dpo:\n    training:\n      learning_rate: -1\n`);
    await expect(engine.call("startRounds", { configPath: bad })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringMatching(/^rounds\.dpo: the DPO run's config .*training\.learning_rate/), where: `${bad}:13` });
    const sftOnly = configFile(`${judged}  dpo:\n    preference:\n      gamma_beta_ratio: 0.5\n`);
    await expect(engine.call("startRounds", { configPath: sftOnly })).rejects.toMatchObject({ code: "ROUNDS_INVALID", message: expect.stringContaining("preference.gamma_beta_ratio is a setting of simpo"), where: `${sftOnly}:13` });
    expect(engine.listRounds()).toEqual([]);
  });

  it("makes the DPO run's config: dpo on the pairs, chained from the round's SFT run, without the SFT-only settings", () => {
    const raw = { name: "x", method: "sft", model: { path: TINY_MODEL }, data: { train: "a.jsonl", validation: "v.jsonl", max_length: 96 }, training: { max_steps: 4, neftune_alpha: 5, goldfish: { k: 4 }, learning_rate: 1e-3 } };
    const dpo = RoundsSpecSchema.parse({ dpo: { preference: { beta: 0.2 }, training: { learning_rate: 5e-6 } } }).dpo!;
    expect(dpoConfig(raw, { name: "x", index: 2, pairs: "/r/round-2-pairs.jsonl", sftRun: "x-r2-run", dpo })).toEqual({
      name: "x-r2-dpo", method: "dpo", model: { path: TINY_MODEL }, data: { train: "/r/round-2-pairs.jsonl", max_length: 96 },
      training: { max_steps: 4, learning_rate: 5e-6 }, preference: { beta: 0.2 }, init_from: "x-r2-run",
    });
    expect(RoundsSpecSchema.parse({ dpo: true }).dpo).toEqual({ min_margin: 0.1, preference: {}, training: {} });
    expect(RoundsSpecSchema.parse({}).dpo).toBeNull();
  });

  it("lets the loop's judge choose among a round's answers unless the synth options name another", () => {
    const spec = RoundsSpecSchema.parse({ judge: "judges/tiny", synth: { method: "magpie", n: 2, responses: 2 } });
    expect(synthOptions(spec, { baseDir: dir, prompts, out: "/tmp/r1.jsonl", model: TINY_MODEL, run: null, round: 1 }).judge).toBe(join(dir, "judges/tiny"));
    const own = RoundsSpecSchema.parse({ judge: "judges/tiny", synth: { method: "magpie", n: 2, responses: 2, judge: "http://127.0.0.1:9/v1" } });
    expect(synthOptions(own, { baseDir: dir, prompts, out: "/tmp/r1.jsonl", model: TINY_MODEL, run: null, round: 1 }).judge).toBe("http://127.0.0.1:9/v1");
  });
});
