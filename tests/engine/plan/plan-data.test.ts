/**
 * The plan against the data: rows are as long as the data fills them (packing never makes a row
 * longer than the epoch's tokens), a max_length beyond the longest sample is flagged, the time
 * estimate exists before any run was measured, and suggestions carry the settings they change.
 */
import { describe, expect, it } from "vitest";
import { planRun } from "../../../engine/plan/plan";
import { validateConfig } from "../../../engine/config/load";
import { ensureTinyModel, tinyConfig } from "../../helpers/fixture";
import { tmpdir } from "node:os";

const GIB = 2 ** 30;
const data = { samples: 111, tokens_per_epoch: 4700, longest: 120 };

describe("planRun with the data's statistics", () => {
  it("a huge max_length on small data is planned at what the data fills, and flagged", () => {
    ensureTinyModel();
    const config = validateConfig(tinyConfig({ data: { max_length: 1_000_000 } }), { baseDir: tmpdir() });
    const blind = planRun(config, { kind: "cuda", name: "RTX 4090", memoryBytes: 0.5 * GIB });
    const informed = planRun(config, { kind: "cuda", name: "RTX 4090", memoryBytes: 0.5 * GIB }, null, data);
    expect(blind.fits).toBe(false);
    expect(informed.data).toMatchObject({ sequence_length: 4700, max_length_beyond_longest: true });
    expect(informed.estimate.total).toBeLessThan(blind.estimate.total / 10);
    expect(informed.secondsPerEpoch).toBeGreaterThan(0); // from the FLOPs guess: no run was measured
    // Without packing a row is at most the longest sample.
    const unpacked = validateConfig(tinyConfig({ data: { max_length: 1_000_000 }, training: { packing: false } }), { baseDir: tmpdir() });
    expect(planRun(unpacked, { kind: "cpu", name: "CPU", memoryBytes: 16 * GIB }, null, data).data?.sequence_length).toBe(120);
  });

  it("suggestions say the change in words and carry the settings to apply", () => {
    ensureTinyModel();
    const config = validateConfig(tinyConfig({ data: { max_length: 65536 }, training: { micro_batch_size: 8, gradient_accumulation: 2 } }), { baseDir: tmpdir() });
    const plan = planRun(config, { kind: "cuda", name: "RTX 4090", memoryBytes: 1.5 * GIB });
    expect(plan.fits).toBe(false);
    expect(plan.suggestions.length).toBeGreaterThan(0);
    for (const s of plan.suggestions) {
      expect(s.words).not.toMatch(/training\.|data\.|_/);
      expect(Object.keys(s.apply).length).toBeGreaterThan(0);
    }
    const mb = plan.suggestions.find((s) => s.apply.micro_batch_size !== undefined);
    if (mb) expect(mb.apply.micro_batch_size! * mb.apply.gradient_accumulation!).toBe(16); // same effective batch
  });
});
