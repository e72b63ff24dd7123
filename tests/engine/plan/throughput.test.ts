/**
 * The plan's measured throughput: an earlier finished run of the same model, method and fine-tuning
 * kind on the same device replaces the FLOPs guess, and on the same data file gives time per epoch.
 * Runs are the shared tiny runs (trained once by the real engine, see tests/engine/eval/tiny-runs.ts).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import type { RunConfig } from "../../../engine/config/schema";
import { formatPlan, planRun, type Device } from "../../../engine/plan/plan";
import { measuredThroughput } from "../../../engine/plan/throughput";
import { tinyRuns } from "../eval/tiny-runs";

const CPU: Device = { kind: "cpu", name: "CPU (system memory)", memoryBytes: 16 * 2 ** 30 };
let engine: Engine;
let newer: string;

beforeAll(async () => {
  const runs = await tinyRuns();
  engine = new Engine({ home: runs.home });
  newer = runs.ids[1]!; // created after ids[0], so listed first
});

describe("measured throughput in the plan", () => {
  it("takes the newest matching run's median tokens/s after warm-up, and its tokens per epoch on the same data", async () => {
    const config = engine.store.config(newer);
    const m = measuredThroughput(engine.store, config, CPU)!;
    expect(m.run).toBe(newer);
    expect(m.sameShape).toBe(true);
    const rows = engine.store.readMetrics(newer);
    const steady = rows.slice(Math.floor(rows.length / 5)).map((r) => r.tokens_per_s as number).sort((a, b) => a - b);
    const mid = steady.length >> 1;
    expect(m.tokensPerSecond).toBeCloseTo(steady.length % 2 ? steady[mid]! : (steady[mid - 1]! + steady[mid]!) / 2, 6);
    const last = rows.at(-1)!;
    expect(m.tokensPerEpoch).toBe(Math.round((last.tokens as number) / (last.epoch as number)));

    const plan = planRun(config, CPU, m);
    expect(plan.secondsPerEpoch).toBeCloseTo(m.tokensPerEpoch! / m.tokensPerSecond, 9);
    expect(formatPlan(plan)).toContain(`throughput measured ≈ ${Math.round(m.tokensPerSecond).toLocaleString("en-US")} tokens/s (run ${newer}`);
    expect(formatPlan(plan)).toMatch(/time per epoch ≈ \d/);
    // Through the API as the wizard calls it.
    expect((await engine.planRun({ config: { ...config } })).measured?.run).toBe(newer);
  });

  it("prefers a run of the same shape; other data gives throughput without time per epoch", () => {
    const config = engine.store.config(newer);
    const otherShape: RunConfig = { ...config, training: { ...config.training, micro_batch_size: config.training.micro_batch_size + 1 } };
    expect(measuredThroughput(engine.store, otherShape, CPU)).toMatchObject({ run: newer, sameShape: false });
    const otherData: RunConfig = { ...config, data: { ...config.data, train: "/elsewhere/other.jsonl" } };
    expect(measuredThroughput(engine.store, otherData, CPU)).toMatchObject({ run: newer, tokensPerEpoch: null });
    expect(planRun(otherData, CPU, measuredThroughput(engine.store, otherData, CPU)).secondsPerEpoch).toBeNull();
  });

  it("is not evidence for another model, method, fine-tuning kind or device", () => {
    const config = engine.store.config(newer);
    expect(measuredThroughput(engine.store, { ...config, model: { ...config.model, path: "/models/other" } }, CPU)).toBeNull();
    expect(measuredThroughput(engine.store, { ...config, method: "dpo" }, CPU)).toBeNull();
    expect(measuredThroughput(engine.store, { ...config, finetune: "full" }, CPU)).toBeNull();
    expect(measuredThroughput(engine.store, config, { kind: "cuda", name: "NVIDIA H100 80GB HBM3", memoryBytes: 80 * 2 ** 30 })).toBeNull();
    // A GPU without a known peak has no guess; a CPU gets one from its cores.
    const none = planRun(config, { kind: "cuda", name: "Unknown GPU", memoryBytes: 8 * 2 ** 30 }, null);
    expect(formatPlan(none)).toContain("throughput: no estimate yet for this device");
    expect(formatPlan(planRun(config, CPU, null))).toMatch(/throughput guess ≈ [\d,]+ tokens\/s at ~8 GFLOP\/s per CPU core/);
  });
});
