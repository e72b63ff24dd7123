/**
 * Sweep grids: flags parsed to typed values, fields checked against the config schema (with the
 * closest name), combinations in order, a seeded random draw, settings written at their dotted names.
 */
import { describe, expect, it } from "vitest";
import { applySettings, checkGridFields, configFields, expandGrid, parseGridFlag } from "../../../engine/sweep/grid";

describe("sweep grid", () => {
  it("parses --grid flags into typed values", () => {
    expect(parseGridFlag("training.learning_rate=5e-5,1e-4, 2E-4")).toEqual(["training.learning_rate", [5e-5, 1e-4, 2e-4]]);
    expect(parseGridFlag("lora.r=8,16")).toEqual(["lora.r", [8, 16]]);
    expect(parseGridFlag("training.packing=true,false")).toEqual(["training.packing", [true, false]]);
    expect(parseGridFlag("training.goldfish=null,4")).toEqual(["training.goldfish", [null, 4]]);
    expect(parseGridFlag("training.scheduler=cosine,linear")).toEqual(["training.scheduler", ["cosine", "linear"]]);
  });

  it("names the flag that is not FIELD=VALUES", () => {
    for (const bad of ["training.learning_rate", "=1,2", "lora.r=", "lora.r=8,,16"]) {
      expect(() => parseGridFlag(bad), bad).toThrow(expect.objectContaining({ code: "SWEEP_GRID_INVALID", message: expect.stringContaining(JSON.stringify(bad)) }));
    }
  });

  it("knows the config's fields and suggests the closest one", () => {
    const fields = configFields();
    expect(fields).toEqual(expect.arrayContaining(["training.learning_rate", "lora.r", "data.max_length", "training.neftune_alpha", "method"]));
    expect(() => checkGridFields({ "training.lerning_rate": [1e-4] })).toThrow(expect.objectContaining({ code: "SWEEP_GRID_INVALID", message: "sweep grid: training.lerning_rate is not a config field; did you mean training.learning_rate?" }));
    expect(() => checkGridFields({ training: [1] })).toThrow(/training is not a config field/);
    expect(() => checkGridFields({ name: ["a", "b"] })).toThrow(/name cannot be a grid field/);
    expect(() => checkGridFields({ "lora.r": [8, 8] })).toThrow(/lora.r lists a value twice/);
  });

  it("expands every combination, the first field slowest, or a seeded random draw of them", () => {
    const grid = { "training.learning_rate": [1e-4, 2e-4, 4e-4], "lora.r": [8, 16] };
    const all = expandGrid(grid, null, 0);
    expect(all).toHaveLength(6);
    expect(all[0]).toEqual({ "training.learning_rate": 1e-4, "lora.r": 8 });
    expect(all[1]).toEqual({ "training.learning_rate": 1e-4, "lora.r": 16 });
    expect(all[5]).toEqual({ "training.learning_rate": 4e-4, "lora.r": 16 });
    const drawn = expandGrid(grid, 3, 7);
    expect(drawn).toHaveLength(3);
    expect(expandGrid(grid, 3, 7)).toEqual(drawn); // the same seed, the same draw
    for (const d of drawn) expect(all).toContainEqual(d);
    expect(new Set(drawn.map((d) => JSON.stringify(d))).size).toBe(3);
    const seeds = new Set(Array.from({ length: 20 }, (_, s) => JSON.stringify(expandGrid(grid, 3, s))));
    expect(seeds.size).toBeGreaterThan(3); // the seed matters
    expect(expandGrid(grid, 10, 0)).toEqual(all); // asking for more than there are: all of them
  });

  it("writes settings at their dotted names without touching the base", () => {
    const base = { training: { learning_rate: 1e-3, epochs: 1 }, data: { train: "x.jsonl" } };
    const out = applySettings(base, { "training.learning_rate": 3e-4, "lora.r": 16 });
    expect(out).toEqual({ training: { learning_rate: 3e-4, epochs: 1 }, data: { train: "x.jsonl" }, lora: { r: 16 } });
    expect(base.training.learning_rate).toBe(1e-3);
  });
});
