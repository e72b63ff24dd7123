/**
 * `whetstone bench` through the engine, the CLI and the real worker, on a real tiny run and the
 * local lm-eval tasks of engine/worker/tests/fixtures/bench (nothing downloaded; the worker's own
 * test checks its numbers against lm-eval's simple_evaluate). Here: the table's deltas and their
 * standard errors, the stored report, progress, cancel, and a standard task forced offline.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { EngineEvent } from "../../../engine/api/events";
import { Engine } from "../../../engine/api/engine";
import { benchPaths, benchTable, formatBench } from "../../../engine/bench/bench";
import { PROJECT_ROOT } from "../../../engine/paths";
import { tinyRuns } from "../eval/tiny-runs";

const FIXTURES = join(PROJECT_ROOT, "engine", "worker", "tests", "fixtures", "bench");

/** The fixture tasks with their data paths made absolute, as the worker test does. */
function taskDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "whetstone-bench-tasks-"));
  for (const f of readdirSync(FIXTURES)) {
    const text = readFileSync(join(FIXTURES, f), "utf8");
    writeFileSync(join(dir, f), f.endsWith(".yaml") ? text.replaceAll("{data_dir}", dir) : text);
  }
  return dir;
}

const side = (rows: [string, string, number, number | null][], n: Record<string, number>) => ({
  rows: rows.map(([task, metric, value, stderr]) => ({ task, alias: task, top: true, metric, filter: "none", value, stderr, higher_is_better: true })),
  n_samples: n,
});

describe("the table", () => {
  it("joins the sides on task, metric and filter: delta = tuned − base, its stderr sqrt(se² + se²)", () => {
    const rows = benchTable(
      side([["arc", "acc", 0.5, 0.1], ["arc", "acc_norm", 0.25, null], ["gsm", "exact_match", 0.75, 0.05]], { arc: 100, gsm: 20 }),
      side([["gsm", "exact_match", 0.5, 0.12], ["arc", "acc", 0.3, 0.2], ["arc", "acc_norm", 0.5, 0.1], ["base-only", "acc", 0.1, 0.01]], { arc: 100, gsm: 20, "base-only": 5 }),
    );
    expect(rows.map((r) => [r.task, r.metric, r.tuned, r.base, r.n])).toEqual([
      ["arc", "acc", 0.5, 0.3, 100],
      ["arc", "acc_norm", 0.25, 0.5, 100],
      ["gsm", "exact_match", 0.75, 0.5, 20],
      ["base-only", "acc", null, 0.1, 5],
    ]);
    expect(rows[0]!.delta).toBeCloseTo(0.2, 15);
    expect(rows[0]!.delta_stderr).toBeCloseTo(Math.sqrt(0.05), 15); // sqrt(0.1² + 0.2²)
    expect(rows[1]!.delta).toBe(-0.25);
    expect(rows[1]!.delta_stderr).toBeNull(); // one side has no stderr: none for the difference
    expect(rows[2]!.delta_stderr).toBeCloseTo(0.13, 15); // sqrt(0.05² + 0.12²) = 0.13
    expect(rows[3]).toMatchObject({ delta: null, delta_stderr: null, base_stderr: 0.01 });
  });
});

describe("benchmarks of a run", () => {
  let engine: Engine;
  let runId: string;
  let tasks: string;
  const events: EngineEvent[] = [];

  beforeAll(async () => {
    const runs = await tinyRuns();
    engine = new Engine({ home: runs.home });
    runId = runs.ids[0]!;
    tasks = taskDir();
    engine.events.on("event", (e: EngineEvent) => events.push(e));
  });

  it("scores the tuned model and its base, stores the table with deltas, and reports progress per request", async () => {
    const report = await engine.benchRun({ id: runId, tasks: ["whetstone_capitals", "whetstone_sums"], limit: 6, taskDir: tasks });
    expect(report).toMatchObject({ run_id: runId, lm_eval_version: "0.4.13", against: "base", tasks: ["whetstone_capitals", "whetstone_sums"] });
    expect(report.rows.map((r) => `${r.task}/${r.metric}`).sort()).toEqual(["whetstone_capitals/acc", "whetstone_capitals/acc_norm", "whetstone_sums/chrf", "whetstone_sums/exact_match"]);
    for (const r of report.rows) {
      expect(r.n).toBe(6);
      expect(r.tuned).not.toBeNull();
      expect(r.delta).toBe(r.tuned! - r.base!);
      expect(r.delta_stderr).toBe(Math.sqrt(r.tuned_stderr! ** 2 + r.base_stderr! ** 2));
    }
    expect(report.settings).toMatchObject({ limit: 6, chat_template: false, tuned_kind: "adapter", device: "cpu" });
    const stored = JSON.parse(readFileSync(benchPaths(engine.store, runId).json, "utf8"));
    expect(stored).toEqual(JSON.parse(JSON.stringify(report)));
    expect(engine.getBench({ id: runId })).toEqual(stored);
    expect(readFileSync(benchPaths(engine.store, runId).markdown, "utf8")).toBe(formatBench(report) + "\n");
    const progress = events.flatMap((e) => (e.type === "progress" && e.runId === runId ? [e.progress] : []));
    for (const phase of ["data", "load", "tuned", "base"]) expect(progress.map((p) => p.phase)).toContain(phase);
    const done = progress.filter((p) => p.unit === "requests" && p.current === p.total);
    expect(done.map((p) => p.total).sort()).toEqual([24, 24, 6, 6]); // 6 questions × 4 choices, 6 generations, per side
    expect(done.every((p) => p.eta_s === 0)).toBe(true);
  });

  it("a cancelled benchmark keeps the previous report", async () => {
    const before = readFileSync(benchPaths(engine.store, runId).json, "utf8");
    const pending = engine.benchRun({ id: runId, tasks: ["whetstone_capitals"], taskDir: tasks });
    await new Promise<void>((resolve) => engine.events.on("event", (e: EngineEvent) => e.type === "progress" && e.progress.phase === "tuned" && resolve()));
    expect(await engine.call("cancelTask", { id: runId, kind: "bench" })).toEqual({ cancelled: true });
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED", hint: expect.stringContaining(`whetstone bench ${runId}`) });
    expect(readFileSync(benchPaths(engine.store, runId).json, "utf8")).toBe(before);
  });

  it("a standard task offline is an error naming the task and saying to connect", async () => {
    const hfHome = mkdtempSync(join(tmpdir(), "whetstone-empty-hf-"));
    const offline = new Engine({ home: engine.store.home, workerEnv: { HF_HUB_OFFLINE: "1", HF_DATASETS_OFFLINE: "1", HF_HOME: hfHome } });
    const failure = await offline.benchRun({ id: runId, tasks: ["arc_challenge"], limit: 5 }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "BENCH_DATA_OFFLINE", message: expect.stringContaining("'arc_challenge'"), hint: expect.stringContaining("Connect to the internet") });
  });

  it("`whetstone bench RUN --tasks …` prints the table with deltas and where the report is", () => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "bench", runId, "--tasks", "whetstone_capitals", "--limit", "4", "--task-dir", tasks], {
      env: { ...process.env, WHETSTONE_HOME: engine.store.home },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("| task | metric | filter | n | tuned ± stderr | base ± stderr | tuned − base ± stderr |");
    expect(r.stdout).toMatch(/\| whetstone_capitals \| acc \| none \| 4 \| [01]\.\d{4} ± 0\.\d{4} \| [01]\.\d{4} ± 0\.\d{4} \| [+-][01]\.\d{4} ± 0\.\d{4}/);
    expect(r.stdout).toContain(`report: ${benchPaths(engine.store, runId).json}`);
    expect(existsSync(benchPaths(engine.store, runId).markdown)).toBe(true);
    const usage = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "bench", runId], { env: { ...process.env, WHETSTONE_HOME: engine.store.home }, encoding: "utf8" });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("needs --tasks");
  });
});
