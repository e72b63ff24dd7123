import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../engine/paths";

describe("bench/gpu-check.sh", () => {
  it("dry-runs on a machine without CUDA, saying what it skipped and why", () => {
    const out = mkdtempSync(join(tmpdir(), "gpu-check-"));
    const r = spawnSync("bash", [join(PROJECT_ROOT, "bench", "gpu-check.sh")], { cwd: PROJECT_ROOT, env: { ...process.env, OUT: out }, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("no CUDA device: dry run");
    const summary = readFileSync(join(out, "gpu-check.md"), "utf8");
    expect(summary).toMatch(/\| worker tests tests\/test_cuda\.py \| ok \| \d+ skipped \|/);
    expect(summary).toContain("| trainer bench --gpu | skipped | needs CUDA |");
    expect(summary).toContain("| estimator on CUDA | skipped | needs CUDA |");
    // The CUDA tests were collected (an import error would fail them), and each skip has a reason.
    const junit = readFileSync(join(out, "pytest-cuda.xml"), "utf8");
    expect(Number(/tests="(\d+)"/.exec(junit)?.[1])).toBeGreaterThanOrEqual(8);
    expect(junit).toContain("needs an NVIDIA GPU");
  });
});
