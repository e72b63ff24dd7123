/**
 * Planning rounds (engine/rounds/plan.ts) refuses a bad block before anything runs, naming the field
 * and its line: a round count ≤ 0 (in the file or as --rounds), an unknown field, a synthesis option
 * the round sets itself, a missing method, and a config without evaluation prompts. Nothing trains.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { synthOptions } from "../../../engine/rounds/plan";
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
});
