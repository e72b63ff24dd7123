/** The memorization audit through the engine and the CLI, on a real tiny run (the finished runs eval and merge share, tiny-runs.ts). */
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { auditPaths } from "../../../engine/audit/audit";
import { PROJECT_ROOT } from "../../../engine/paths";
import { tempHome, tinyConfig } from "../../helpers/fixture";
import { tinyRuns } from "../eval/tiny-runs";

let engine: Engine;
let runId: string;

beforeAll(async () => {
  const runs = await tinyRuns();
  engine = new Engine({ home: runs.home });
  runId = runs.ids[0]!;
  expect(engine.getRun({ id: runId }).status.state).toBe("completed");
});

describe("memorization audit", () => {
  it("reports base and tuned side by side and stores the report in the run", async () => {
    const report = await engine.auditRun({ id: runId, samples: 12, prefixTokens: 4, continuationTokens: 8 });
    for (const side of [report.base, report.tuned]) {
      expect(side.exact_match_rate).toBeGreaterThanOrEqual(0);
      expect(side.exact_match_rate).toBeLessThanOrEqual(1);
      expect(side.lcs_ratio_mean).toBeGreaterThanOrEqual(0);
      expect(side.semantic_similarity_mean).toEqual(expect.any(Number));
    }
    const paths = auditPaths(engine.store, runId);
    const stored = JSON.parse(readFileSync(paths.json, "utf8"));
    expect(stored.run_id).toBe(runId);
    expect(stored.counts.used).toBeGreaterThan(0);
    expect(readFileSync(paths.markdown, "utf8")).toContain("| exact match of the whole continuation |");
    expect(engine.getAudit({ id: runId })).toEqual(stored);
  });

  it("a cancelled audit leaves the previous report untouched and can be run again", async () => {
    const before = readFileSync(auditPaths(engine.store, runId).json, "utf8");
    const pending = engine.auditRun({ id: runId, samples: 100, prefixTokens: 4, continuationTokens: 8, seed: 5 });
    await new Promise<void>((resolve) => engine.events.on("event", (e) => e.type === "progress" && e.progress.phase === "audit" && resolve()));
    expect(await engine.call("cancelTask", { id: runId, kind: "audit" })).toEqual({ cancelled: true });
    expect(await engine.call("cancelTask", { id: runId, kind: "export" })).toEqual({ cancelled: false });
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
    expect(readFileSync(auditPaths(engine.store, runId).json, "utf8")).toBe(before);
    const again = await engine.auditRun({ id: runId, samples: 5, prefixTokens: 4, continuationTokens: 8, seed: 5 });
    expect((again as unknown as { counts: { requested: number } }).counts.requested).toBe(5);
    expect(engine.getRun({ id: runId }).status.state).toBe("completed");
  });

  it("refuses a run with nothing trained, saying what to do", async () => {
    const other = new Engine({ home: tempHome() });
    const run = await other.createRun({ config: tinyConfig({ training: { max_steps: 40 } }) });
    await other.cancelRun({ id: run.id });
    await expect(other.auditRun({ id: run.id })).rejects.toMatchObject({ code: "RUN_NOT_AUDITABLE", hint: expect.stringContaining("whetstone resume") });
  });

  it("`whetstone audit RUN` prints the side-by-side table and where the report is", () => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "audit", runId, "--samples", "6", "--prefix", "4", "--tokens", "8"], {
      env: { ...process.env, WHETSTONE_HOME: engine.store.home },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\| metric +\| base +\| tuned +\|/);
    expect(r.stdout).toContain("Embedding model: ");
    expect(r.stdout).toContain(`report: ${auditPaths(engine.store, runId).json}`);
    expect(existsSync(auditPaths(engine.store, runId).markdown)).toBe(true);
  });
});
