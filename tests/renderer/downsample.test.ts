import { describe, expect, it } from "vitest";
import { lttb, series, type Point } from "../../renderer/src/lib/downsample";

const noisy = (n: number): Point[] => Array.from({ length: n }, (_, i) => ({ x: i, y: Math.sin(i / 500) + ((i * 7919) % 13) / 100 }));

describe("lttb", () => {
  it("keeps at most the threshold, the first and last points, and x order", () => {
    const data = noisy(10_000);
    const out = lttb(data, 500);
    expect(out).toHaveLength(500);
    expect(out[0]).toBe(data[0]);
    expect(out.at(-1)).toBe(data.at(-1));
    for (let i = 1; i < out.length; i++) expect(out[i]!.x).toBeGreaterThan(out[i - 1]!.x);
  });

  it("keeps a single spike that uniform striding would miss", () => {
    const data = Array.from({ length: 10_000 }, (_, i) => ({ x: i, y: i === 4321 ? 50 : 1 }));
    expect(lttb(data, 200).some((p) => p.y === 50)).toBe(true);
    expect(data.filter((_, i) => i % 50 === 0).some((p) => p.y === 50)).toBe(false);
  });

  it("returns short inputs unchanged (a copy)", () => {
    const data = noisy(10);
    const out = lttb(data, 100);
    expect(out).toEqual(data);
    expect(out).not.toBe(data);
  });

  it("downsamples 100k points to a frame's budget", () => {
    const data = noisy(100_000);
    lttb(data, 600);
    const t = performance.now();
    for (let i = 0; i < 10; i++) lttb(data, 600);
    const ms = (performance.now() - t) / 10;
    expect(ms).toBeLessThan(16);
  });
});

describe("series", () => {
  it("takes one metric by step, skipping rows without it", () => {
    const rows = [{ step: 1, loss: 2 }, { step: 2, loss: null }, { step: 3, val_loss: 1 }, { step: 4, loss: Number.NaN }, { step: 5, loss: 1.5 }];
    expect(series(rows, "loss")).toEqual([{ x: 1, y: 2 }, { x: 5, y: 1.5 }]);
  });
});
