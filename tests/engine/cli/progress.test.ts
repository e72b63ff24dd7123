import { describe, expect, it } from "vitest";
import { RunProgress } from "../../../engine/cli/progress";
import { bar, duration, loss } from "../../../engine/cli/format";

const metrics = (step: number, total = 10) => ({ type: "metrics" as const, runId: "r", row: { step, total_steps: total, loss: 2.5, lr: 1e-3, tokens_per_s: 1234, elapsed_s: 5, eta_s: 65 } });

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, columns: 200, write: (t: string) => void writes.push(t) } };
}

describe("RunProgress", () => {
  it("redraws one line with a bar, percent and ETA on a terminal", () => {
    const { writes, out } = sink(true);
    const p = new RunProgress("r", out);
    p.handle(metrics(5));
    expect(writes[0]).toMatch(/^\r\x1b\[2K█{12} {12}  50%  train  5\/10 steps  loss 2\.500  lr 0\.001  1\.2k tok\/s  elapsed 0:05  ETA 1:05$/);
    p.line("note");
    expect(writes.slice(1)).toEqual(["\r\x1b[2K", "note\n"]);
  });

  it("prints plain lines, at most one a second plus the first and last step, when not a terminal", () => {
    const { writes, out } = sink(false);
    const p = new RunProgress("r", out);
    for (let s = 1; s <= 10; s++) p.handle(metrics(s));
    expect(writes).toEqual([
      "train  1/10 steps  loss 2.500  lr 0.001  1.2k tok/s  elapsed 0:05  ETA 1:05\n",
      "train 10/10 steps  loss 2.500  lr 0.001  1.2k tok/s  elapsed 0:05  ETA 1:05\n",
    ]);
  });

  it("shows other phases with their percent and ETA, and ignores other runs", () => {
    const { writes, out } = sink(false);
    const p = new RunProgress("r", out);
    p.handle({ type: "progress", runId: "other", progress: { phase: "data", current: 1, total: 2, unit: "x", elapsed_s: 0, eta_s: 3, message: "m" } });
    p.handle({ type: "progress", runId: "r", progress: { phase: "data", current: 50, total: 200, unit: "samples", elapsed_s: 1, eta_s: 90, message: "Tokenizing" } });
    expect(writes).toEqual(["data 25%  Tokenizing  ETA 1:30\n"]);
  });
});

describe("format", () => {
  it("formats durations, bars and losses", () => {
    expect(duration(3725)).toBe("1:02:05");
    expect(duration(65)).toBe("1:05");
    expect(duration(null)).toBe("--:--");
    expect(bar(0.5, 8)).toBe("████    ");
    expect(bar(0.5, 1)).toBe("▌");
    expect(bar(1 / 8, 1)).toBe("▏");
    expect(loss(6.1)).toBe("6.100");
  });
});
