/** `whetstone train CONFIG --plan`, the planRun API and the preflight verdict's advice. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { PROJECT_ROOT } from "../../../engine/paths";
import { formatPreflight, measuredAdvice, wantsPreflight } from "../../../engine/plan/preflight";
import { planRun } from "../../../engine/plan/plan";
import { validateConfig } from "../../../engine/config/load";
import { ensureTinyModel, tempHome, tinyConfig } from "../../helpers/fixture";
import { HANG_MS } from "../../helpers/limits";

describe("train --plan", () => {
  it("prints the estimate without training, and the API gives the same plan for a config object", async () => {
    ensureTinyModel();
    const home = tempHome();
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "whetstone.mjs"), "train", join(PROJECT_ROOT, "examples", "tiny-sft.yaml"), "--plan"], { env: { ...process.env, WHETSTONE_HOME: home }, encoding: "utf8", timeout: HANG_MS });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^plan on .+\n {2}parameters [\d,]+, trainable 16,384 \(lora r=8\)\n {2}peak memory ≈ [\d.]+ GiB: /);
    expect(r.stdout).toContain("fits: yes");
    const engine = new Engine({ home });
    expect(engine.listRuns()).toEqual([]); // nothing was created
    const plan = await engine.call("planRun", { config: tinyConfig() });
    expect(plan.estimate.trainable).toBe(plan.input.finetune === "lora" ? 8192 : plan.estimate.parameters);
    expect(plan.text).toContain("peak memory");
  });

  it("preflightRun measures one real step in the worker", async () => {
    ensureTinyModel();
    const engine = new Engine({ home: tempHome() });
    const { result, plan, text } = await engine.call("preflightRun", { config: tinyConfig({ training: { micro_batch_size: 2 }, data: { max_length: 128 } }) });
    expect(result).toMatchObject({ fits: true, out_of_memory: false, micro_batch_size: 2, rows: 2, method: "sft", max_length: 128 });
    if (result.device === "cpu") expect(result.measure).toBe("peak RSS");
    expect(result.peak_bytes).toBeGreaterThan(50 * 2 ** 20); // the worker's runtime alone is more
    expect(text).toMatch(/^preflight: one step of 2 × 128 tokens peaked at [\d.]+ GiB .*: fits$/);
    expect(plan.fits).toBe(true);
    expect(engine.listRuns()).toEqual([]);
  });

  it("a measured step that does not fit stops with advice that fits the measured reality", () => {
    ensureTinyModel();
    const config = validateConfig(tinyConfig({ training: { micro_batch_size: 8, gradient_checkpointing: false }, data: { max_length: 2048 } }));
    const device = { kind: "cuda" as const, name: "test GPU", memoryBytes: 2 * 2 ** 30 };
    const plan = planRun(config, device);
    expect(wantsPreflight(plan, false)).toBe(!plan.fits || plan.near_limit);
    expect(wantsPreflight(plan, true)).toBe(true);
    // A recorded verdict: the step peaked at twice the device's memory.
    const result = { device: "cuda", measure: "cuda max_memory_allocated", peak_bytes: 4 * 2 ** 30, reserved_bytes: null, baseline_bytes: null, limit_bytes: 2 * 2 ** 30, out_of_memory: false, fits: false, micro_batch_size: 8, max_length: 2048, seconds: 1.2 };
    const advice = measuredAdvice(config, plan, result);
    const ratio = result.peak_bytes / plan.estimate.total;
    for (const a of advice) expect(a.total * Math.max(ratio, 1)).toBeLessThanOrEqual(0.95 * result.limit_bytes);
    const text = formatPreflight(result, plan, advice);
    expect(text).toMatch(/^preflight: one step of 8 × 2048 tokens peaked at 4.00 GiB .*: does NOT fit/);
    expect(text.split("\n").length).toBe(1 + Math.max(advice.length, 1));
    // A preference method's step is micro_batch_size pairs: chosen and rejected rows together.
    expect(formatPreflight({ ...result, rows: 16, method: "dpo" }, plan, advice)).toMatch(/^preflight: one step of 8 pairs \(16 rows\) × 2048 tokens peaked at/);
  });
});
