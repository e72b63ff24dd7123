// @vitest-environment jsdom
/** The judge-trust block under an evaluation: figures from the engine's judgeTrust, and its warning when the judge is guessing. */
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { combine, normalize } from "../../engine/judge/prompt";
import { judgeTrust } from "../../engine/judge/trust";
import { JudgeTrust, weakestTrust } from "../../renderer/src/wizard/JudgeTrust";

const pair = (a: [number, number, number], b: [number, number, number]) => combine(normalize({ "1": a[0], "2": a[1], Tie: a[2] }), normalize({ "1": b[0], "2": b[1], Tie: b[2] }));
const careful = judgeTrust(Array.from({ length: 5 }, () => pair([0.8, 0.1, 0.1], [0.1, 0.8, 0.1])));
const guessing = judgeTrust(Array.from({ length: 5 }, () => pair([0.8, 0.1, 0.1], [0.8, 0.1, 0.1])));

afterEach(cleanup);

describe("JudgeTrust", () => {
  it("shows the figures without a warning for a consistent judge", () => {
    render(<JudgeTrust trust={careful} />);
    expect(screen.getByTestId("judge-trust").textContent).toMatch(/100%.*of 5 prompts; ties 0%; mean confidence 0\.80/);
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("warns when the judge is guessing, in words (no settings names)", () => {
    render(<JudgeTrust trust={guessing} />);
    expect(screen.getByRole("alert").textContent).toMatch(/^This judge is guessing.*Use a larger judge/);
  });

  it("a comparison shows its least consistent match; an old report without figures shows nothing", () => {
    expect(weakestTrust([{ judge_trust: careful }, { judge_trust: guessing }, {}])).toBe(guessing);
    const { container } = render(<JudgeTrust trust={undefined} />);
    expect(container.innerHTML).toBe("");
  });
});
