/**
 * A sweep from the wizard's Train step in a real browser on the tiny fixture model: three learning
 * rates, one far too high (1.0), typed into the grid builder (a bad value refused as typed), trained
 * as many at a time as fit (two on a machine with two cores or more: the page says so and shows both
 * trials' dashboards) with early stopping by training signals, and judged by the tiny judge. The view
 * follows the `sweep` events to the end: the 1.0 trial "stopped early", a best trial marked, the
 * ranking with its LC win rates; after a reload the runs page lists the sweep and opens it again.
 * The wizard's first four steps are covered by wizard.e2e.test.ts: here the draft is where they
 * leave it (persisted as the app persists it), so the test spends its time on the sweep.
 */
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { DEFAULT_DRAFT, type Draft } from "../../renderer/src/lib/draft";
import { TINY_DATA, ensureTinyModel } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { findChromium, SCREENSHOTS, openApp, shot, startHarness, type Harness } from "./harness";

const chromiumPath = findChromium();

describe.skipIf(!chromiumPath)("sweep in chromium", () => {
  let h: Harness;
  let model: string;
  let judge: string;

  beforeAll(async () => {
    model = ensureTinyModel();
    judge = ensureTinyJudge();
    h = await startHarness(chromiumPath!);
  });
  afterAll(async () => {
    await h?.close();
  });


  it("builds a 3-trial learning-rate sweep, watches the too-high rate stop early and the judge mark the best", async () => {
    // The tiny model on the sample chats with 10% held out (the judge's prompts), as the engine's sweep test trains it;
    // suggestedFor: the data step's suggestions were made for this file already (they would hold out none of 111 rows).
    const draft: Draft = {
      ...DEFAULT_DRAFT, name: "e2e-sweep", modelPath: model, dataPath: TINY_DATA, dataName: "tiny-chat.jsonl", method: "sft", neftune: false,
      learningRate: 3e-3, microBatchSize: 8, maxLength: 192, validationSplit: 0.1, suggestedFor: TINY_DATA, loraR: 4, loraAlpha: 8, checkpointEvery: 4, epochs: 1, maxSteps: null,
    };
    const { page, errors } = await openApp(h, { ui: { theme: "light", step: "train", draft } });
    const t0 = Date.now();
    const lap = (what: string) => console.log(`[e2e] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    await page.getByRole("button", { name: "Try several settings" }).click();
    const values = page.getByLabel("Values of Learning rate");
    await values.fill("3e-3, 1e-2, 1.0");
    expect(await page.getByTestId("trial-count").textContent()).toBe("3 trials");
    await page.getByLabel("Steps per trial (optional)").fill("12");
    await page.getByText("How the best trial is picked").click();
    await page.getByLabel("Judge", { exact: true }).fill(judge);
    await page.getByLabel("Prompt limit").fill("3");
    await page.getByLabel("Answer tokens").fill("8");
    // A second setting with a typo: refused as typed, and Start waits.
    await page.getByRole("button", { name: "Add a setting" }).click();
    await page.getByLabel("Setting 2").selectOption({ label: "LoRA rank" });
    await page.getByLabel("Values of LoRA rank").fill("4, 8x");
    expect(await page.getByText("“8x” is not a number.").count()).toBe(1);
    await expect(page.getByRole("button", { name: "Start 3 trials" }).isDisabled()).resolves.toBe(true);
    await shot(page, "sweep-builder");
    await page.getByLabel("Values of LoRA rank").fill("4, 8");
    expect(await page.getByTestId("trial-count").textContent()).toBe("3 × 2 = 6 trials");
    await page.getByRole("button", { name: "Remove LoRA rank" }).click();
    expect(await page.getByTestId("trial-count").textContent()).toBe("3 trials");
    expect(await page.getByLabel("By training signals").isChecked()).toBe(true);

    await page.getByRole("button", { name: "Start 3 trials" }).click();
    const state = page.getByTestId("sweep-state");
    await state.waitFor({ timeout: 30_000 });
    // How many train at once, and why: from the plan of each trial and the device's free memory.
    const side = page.getByTestId("sweep-side-by-side");
    await side.waitFor({ timeout: 30_000 });
    expect(await side.textContent()).toMatch(availableParallelism() >= 2 ? /^Trials train 2 at a time, one per CPU core: each needs about \d+\.\d GB, with a safety margin, of the \d+ GB of memory free\.$/ : /^Trials train one at a time: /);
    // Each training trial's own dashboard shows while it trains (the first two together, side by side).
    await page.getByText(/Trial 1 training now: Learning rate 0.003/).waitFor({ timeout: 60_000 });
    lap("first trial training");
    await page.getByText(/Trial 2 training now: Learning rate 0.01/).waitFor({ timeout: 120_000 });
    await page.waitForFunction(() => Number(document.querySelector(".trial-run .chart")?.getAttribute("data-points") ?? 0) > 2, null, { timeout: 60_000 });
    await shot(page, "sweep-running");
    await page.waitForFunction(() => document.querySelector('[data-testid="sweep-state"]')?.textContent === "completed", null, { timeout: 240_000 });
    lap("sweep completed");

    const rows = page.getByTestId("trials").locator("tbody tr");
    expect(await rows.count()).toBe(3);
    expect(await rows.nth(2).textContent()).toMatch(/Learning rate 1stopped early: (its|the loss) /);
    expect(await rows.nth(2).getAttribute("data-state")).toBe("stopped");
    expect(await rows.nth(0).getAttribute("data-state")).toBe("completed");
    expect(await rows.nth(1).getAttribute("data-state")).toBe("completed");
    expect(await page.locator("[data-testid=trials] tr.best").count()).toBe(1);
    expect(await page.getByTestId("sweep-best").textContent()).toMatch(/^Best: trial [12] \(Learning rate 0\.0(03|1)\)/);
    expect(await page.getByTestId("ranking").locator("tbody tr").count()).toBe(3); // the two finished trials and the base
    expect(await page.getByTestId("matches").textContent()).toMatch(/\d+\.\d% \(\d+\.\d% – \d+\.\d%\)/);
    await shot(page, "sweep-done");

    // Go on with the judge's pick: it becomes the wizard's run, and Next opens Evaluate.
    await page.getByRole("button", { name: "Go on with the best trial" }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="run-state"]')?.textContent === "completed", null, { timeout: 30_000 });

    // After a reload the runs page lists the sweep (listSweeps) and opens it (getSweep).
    await page.reload();
    await page.getByRole("button", { name: "Runs" }).click();
    await page.getByRole("button", { name: /^Sweep e2e-sweep/ }).click();
    await page.getByRole("heading", { name: "Sweep e2e-sweep" }).waitFor();
    expect(await page.getByTestId("sweep-state").textContent()).toBe("completed");
    expect(await page.getByTestId("trials").locator("tbody tr").count()).toBe(3);
    lap("reloaded");
    expect(errors).toEqual([]);
  });
});
