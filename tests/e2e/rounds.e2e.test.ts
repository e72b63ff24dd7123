/**
 * The rounds page in a real browser on the tiny model and the tiny judge: a loop of two rounds with
 * DPO after each SFT run, started through the engine's API (as `whetstone rounds` would, on the same
 * data folder), found on the runs page, followed live over server-sent events (the phase in words,
 * its progress bar with time left), cancelled and resumed with the page's buttons, and finished:
 * every round's row with its two runs and its win rates, the win-rate curve, why it stopped. After a
 * reload the runs page lists the loop and opens it again, and the best round's run page offers more
 * rounds from it (the form filled, not started). Screenshots: test-results/e2e/rounds-*.png.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { ensureTinyModel, tinyConfig } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { findChromium, SCREENSHOTS, openApp, shot, startHarness, type Harness } from "./harness";

const chromiumPath = findChromium();

describe.skipIf(!chromiumPath)("rounds in chromium", () => {
  let h: Harness;
  let judge: string;
  let prompts: string;

  beforeAll(async () => {
    ensureTinyModel();
    judge = ensureTinyJudge();
    prompts = join(mkdtempSync(join(tmpdir(), "whetstone-rounds-e2e-")), "prompts.txt");
    writeFileSync(prompts, "What is 3 plus 5?\nSay hello in French.\nName a colour.\nWrite a haiku about rain.\n");
    h = await startHarness(chromiumPath!);
  });
  afterAll(async () => {
    await h?.close();
  });


  it("follows two rounds with DPO live, cancels and resumes them, and shows the rounds and the win-rate curve", async () => {
    const started = await h.engine.call("startRounds", {
      config: {
        ...tinyConfig({ training: { max_steps: 24, micro_batch_size: 2, checkpoint_every: 4, neftune_alpha: 0 }, data: { max_length: 96 } }),
        name: "e2e-rounds",
        rounds: {
          rounds: 2, // two show the table, the curve and why it stopped as well as three did, for a third less training
          synth: { method: "magpie", n: 6, prompt_tokens: 6, max_new_tokens: 6, filters: ["empty", "repeated", "refusal"], responses: 2, response_temperatures: [0.7, 1.3] },
          prompts, judge, limit: 4, max_new_tokens: 6, stop_threshold: 0,
          dpo: { min_margin: 0, training: { max_steps: 4 } },
        },
      },
    });
    const { page, errors } = await openApp(h, { ui: { theme: "light" } });
    await page.getByRole("button", { name: "Runs", exact: true }).click();
    await page.getByRole("button", { name: `Rounds e2e-rounds (${started.id})` }).click();
    await page.getByRole("heading", { name: "Rounds e2e-rounds" }).waitFor();

    // Live: round 1 trains with its steps and time left; cancel, then resume.
    const now = page.getByTestId("rounds-now");
    await page.waitForFunction(() => /train [1-9]\d*\/24 steps · elapsed \d+:\d\d · ETA \d+:\d\d/.test(document.querySelector('[data-testid="rounds-now"]')?.textContent ?? ""), null, { timeout: 180_000 });
    expect(await now.textContent()).toMatch(/^Round 1 of up to 2: training on 6 rows/);
    await shot(page, "rounds-running");
    await page.getByRole("button", { name: "Cancel the rounds" }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="rounds-state"]')?.textContent === "cancelled", null, { timeout: 60_000 });
    await page.getByRole("button", { name: "Resume the rounds" }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="rounds-state"]')?.textContent === "running", null, { timeout: 30_000 });
    await page.waitForFunction(() => /preference training \(DPO\)/.test(document.querySelector('[data-testid="rounds-now"]')?.textContent ?? ""), null, { timeout: 180_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="rounds-state"]')?.textContent === "completed", null, { timeout: 480_000 });

    const loop = h.engine.getRounds({ id: started.id });
    const rows = page.getByTestId("rounds-table").locator("tbody tr");
    expect(await rows.count()).toBe(loop.rounds.length);
    for (const [i, r] of loop.rounds.entries()) {
      const text = await rows.nth(i).textContent();
      expect(text).toContain(`e2e-rounds-r${r.index}then e2e-rounds-r${r.index}-dpo`);
      expect(text).toContain(`${r.vs_base!.lc_win_rate.toFixed(1)}% (${r.vs_base!.lc_low.toFixed(1)}% – ${r.vs_base!.lc_high.toFixed(1)}%)`);
    }
    expect(Number(await page.locator(".rounds .chart").getAttribute("data-points"))).toBeGreaterThanOrEqual(2 * loop.rounds.length + 2);
    expect(await page.getByTestId("rounds-outcome").textContent()).toContain(`Stopped: ${loop.stopped}.`);
    await shot(page, "rounds-done");

    // After a reload the runs page lists the loop (listRounds) and opens it (getRounds).
    await page.reload();
    await page.getByRole("button", { name: "Runs", exact: true }).click();
    expect(await page.getByTestId("rounds-list").textContent()).toContain("completed");
    await shot(page, "rounds-list");
    await page.getByRole("button", { name: `Rounds e2e-rounds (${started.id})` }).click();
    expect(await page.getByTestId("rounds-state").textContent()).toBe("completed");

    // The best round's model is one click away, and from its page more rounds can start.
    await page.getByRole("button", { name: "Open its model" }).click();
    await page.getByRole("button", { name: "Improve with rounds" }).click();
    const form = page.getByRole("region", { name: "Improve with rounds" });
    await form.getByLabel("Rows each round").fill("6");
    await form.getByLabel("Prompts", { exact: true }).fill(prompts);
    await form.getByLabel("Judge", { exact: true }).fill(judge);
    await form.getByRole("checkbox").check();
    expect(await form.getByRole("button", { name: "Start the rounds" }).isDisabled()).toBe(false);
    await form.screenshot({ path: join(SCREENSHOTS, "rounds-start.png") });
    expect(errors).toEqual([]);
  });
});
