/**
 * Merging runs through the engine and the CLI on real tiny runs: a uniform soup and a DARE merge
 * become new completed runs with lineage that can be evaluated and exported like any other; a
 * greedy soup keeps a run only when the tiny judge prefers the result; runs of different bases are
 * refused with the reason. (The weight arithmetic itself is tested in the worker's test_merge.py.)
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { validateConfig } from "../../../engine/config/load";
import { lineagePath, loadLineage } from "../../../engine/runs/lineage";
import { PROJECT_ROOT } from "../../../engine/paths";
import { TINY_MODEL, tinyConfig } from "../../helpers/fixture";
import { ensureTinyJudge } from "../eval/tiny-judge";
import { tinyRuns } from "../eval/tiny-runs";
import { HANG_MS } from "../../helpers/limits";

let engine: Engine;
let runA: string;
let runB: string;
let judge: string;

beforeAll(async () => {
  judge = ensureTinyJudge();
  const runs = await tinyRuns();
  engine = new Engine({ home: runs.home });
  [runA, runB] = runs.ids as [string, string];
});

describe("merge", () => {
  it("a uniform soup is a new completed run with lineage that can be evaluated and exported", async () => {
    const { run, lineage } = await engine.mergeRuns({ ids: [runA, runB], method: "soup" });
    expect(run.state).toBe("completed");
    expect(run.name).toBe("soup-of-2");
    expect(existsSync(join(run.outputs.model!, "model.safetensors"))).toBe(true);
    expect(loadLineage(engine.store, run.id)).toEqual(lineage);
    expect(lineage).toMatchObject({ method: "soup", merged_from: [{ run_id: runA, kind: "adapter" }, { run_id: runB, kind: "adapter" }], result: { tensors: expect.any(Number) } });
    expect(engine.listRuns().map((r) => r.id)).toContain(run.id);

    const report = await engine.evalRun({ id: run.id, judge, limit: 2, maxNewTokens: 4, resamples: 50 });
    expect(report.summary.n).toBe(2);
    const out = join(mkdtempSync(join(tmpdir(), "whetstone-merge-")), "soup");
    const record = await engine.exportRun({ id: run.id, format: "safetensors", out });
    expect(record.files.map((f) => f.path)).toEqual(expect.arrayContaining(["model.safetensors", "config.json", "README.md"]));
    // The card names the merge and its sources, not the first source's LoRA settings.
    const card = readFileSync(join(out, "README.md"), "utf8");
    expect(card).toContain("fine-tuned with Whetstone (merge, soup)");
    expect(card).toContain(`${runA}, ${runB}`);
    expect(card).not.toMatch(/lora\.r\b/);
  });

  it("a greedy soup keeps a run only when the judge prefers the result, and records every decision", async () => {
    const { run, lineage } = await engine.mergeRuns({ ids: [runA, runB], method: "greedy-soup", judge, limit: 2, maxNewTokens: 4 });
    expect(run.state).toBe("completed");
    const greedy = lineage.greedy as { order: string[]; scores: Record<string, number>; trials: { add: string; win_rate_vs_current_soup: number; accepted: boolean }[] };
    expect([...greedy.order].sort()).toEqual([runA, runB].sort());
    expect(greedy.scores[greedy.order[0]!]).toBeGreaterThanOrEqual(greedy.scores[greedy.order[1]!]!);
    expect(greedy.trials).toHaveLength(1);
    const trial = greedy.trials[0]!;
    expect(trial.accepted).toBe(trial.win_rate_vs_current_soup > 50);
    expect(lineage.ingredients).toEqual(trial.accepted ? greedy.order : [greedy.order[0]]);
    expect(existsSync(join(engine.store.runDir(run.id), "merge-trials"))).toBe(false);
  });

  it("`whetstone merge --method dare --p 0.3` makes a run; different bases are refused with the reason", async () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), ...args], { env: { ...process.env, WHETSTONE_HOME: engine.store.home }, encoding: "utf8", timeout: HANG_MS });
    const r = cli("merge", runA, runB, "--method", "dare", "--p", "0.3", "--name", "dare-test");
    expect(r.stderr).not.toContain("error[");
    expect(r.status).toBe(0);
    const id = /merged into run (\S+)/.exec(r.stdout)![1]!;
    expect(JSON.parse(readFileSync(lineagePath(engine.store, id), "utf8"))).toMatchObject({ method: "dare", p: 0.3, result: { method: "dare", p: 0.3 } });
    expect(engine.getRun({ id }).status).toMatchObject({ state: "completed", name: "dare-test" });
    expect(cli("show", id).stdout).toContain(`merged   dare of ${runA}, ${runB}`);

    // A finished run on another base model (a copy of the tiny model in another folder).
    const otherBase = join(mkdtempSync(join(tmpdir(), "whetstone-base-")), "other-llama");
    cpSync(TINY_MODEL, otherBase, { recursive: true });
    const other = engine.store.create(validateConfig(tinyConfig({ name: "other", model: { path: otherBase } })));
    engine.store.update(other.id, { state: "completed", owner_pid: null, outputs: { adapter: engine.getRun({ id: runA }).status.outputs.adapter! } });
    await expect(engine.mergeRuns({ ids: [runA, other.id], method: "soup" })).rejects.toMatchObject({ code: "MERGE_DIFFERENT_BASES", message: expect.stringContaining(otherBase) });
    const refused = cli("merge", runA, other.id, "--method", "soup");
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("different base models");
    expect(cli("merge", runA, "--method", "ties").stderr).toContain("--method must be one of soup, greedy-soup, dare");
  });
});
