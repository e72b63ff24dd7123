/** The `whetstone` command as a user runs it: a real process, plain (non-TTY) output. */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel, tempHome, writeConfig, TINY_MODEL, TINY_DATA } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

const BIN = join(PROJECT_ROOT, "bin", "whetstone.mjs");

function cli(args: string[], home: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  ensureTinyModel();
});

describe("whetstone CLI", () => {
  it("trains examples/tiny-sft.yaml with progress and ETA, then lists and shows the run", () => {
    const home = tempHome();
    const r = cli(["train", join(PROJECT_ROOT, "examples", "tiny-sft.yaml")], home);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/train +1\/\d+ steps +loss [\d.]+ +lr \S+ +\S+ tok\/s +elapsed \d+:\d\d +ETA \d+:\d\d/);
    expect(r.out).toMatch(/completed: \S+ at step (\d+)\/\1/);
    const [, first, last] = /loss ([\d.]+) → ([\d.]+)/.exec(r.out)!;
    expect(Number(last)).toBeLessThan(Number(first) * 0.8);

    const runs = cli(["runs"], home);
    expect(runs.out).toMatch(/^RUN +STATE +STEP +LOSS +CREATED\n\S+-tiny-sft-\S+ +completed/);
    const id = runs.out.split("\n")[1]!.split(/\s+/)[0]!;
    const show = cli(["show", id.slice(0, -3)], home);
    expect(show.code).toBe(0);
    expect(show.out).toContain(`run      ${id}`);
    expect(show.out).toContain("output   adapter:");
    const json = JSON.parse(cli(["show", id, "--json"], home).out);
    expect(json.metrics.length).toBe(json.status.total_steps);
  });

  it("exits 2 with the field named for a malformed config, and with the path for a missing model", () => {
    const home = tempHome();
    const bad = writeConfig(home, "bad.yaml", `model:\n  path: ${TINY_MODEL}\ndata:\n  train: ${TINY_DATA}\ntraining:\n  micro_batch_size: 0\n  warmup: 3\n`);
    const r = cli(["train", bad], home);
    expect(r.code).toBe(2);
    expect(r.err).toContain("training.micro_batch_size must be >= 1, got 0");
    expect(r.err).toContain("unknown key 'training.warmup'");
    expect(r.err).toContain("bad.yaml:6");
    const missing = writeConfig(home, "missing.yaml", `model:\n  path: /nowhere/model\ndata:\n  train: ${TINY_DATA}\n`);
    const m = cli(["train", missing], home);
    expect(m.code).toBe(2);
    expect(m.err).toContain("error[MODEL_NOT_FOUND]: model.path: no model folder at /nowhere/model");
  });

  it("cancels a run from another process; resume completes it", async () => {
    const home = tempHome();
    const cfg = writeConfig(home, "long.yaml", `name: long\nmodel:\n  path: ${TINY_MODEL}\ndata:\n  train: ${TINY_DATA}\n  max_length: 192\nlora: {r: 4, alpha: 8}\ntraining:\n  max_steps: 60\n  micro_batch_size: 8\n  checkpoint_every: 100\n`);
    const child = spawn(process.execPath, [BIN, "train", cfg], { env: { ...process.env, WHETSTONE_HOME: home } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await new Promise<void>((resolve) => child.stdout.on("data", () => /train +\d+\/60/.test(out) && resolve()));
    const id = /^run (\S+)/m.exec(out)![1]!;
    const c = cli(["cancel", id], home);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(new RegExp(`${id}: cancelled \\(checkpoint at step \\d+\\)`));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(130);
    expect(out).toContain(`resume with: whetstone resume ${id}`);
    const resumed = cli(["resume", id], home);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(/resuming \S+ from the checkpoint at step \d+/);
    expect(resumed.out).toContain("completed:");
  });
});
