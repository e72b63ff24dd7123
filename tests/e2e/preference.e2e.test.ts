/**
 * The preference journey in a real browser on the tiny fixture model: SFT on conversations, then
 * "New run from this one" → DPO on preference pairs chained from the SFT adapter → evaluate with
 * the tiny judge → export; with a reload mid-training and a reload mid-wizard, after which every
 * step that was done stays done. Screenshots of the DPO path go to test-results/e2e/ (README: copied to docs/screenshots/ by hand).
 */
import { readFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { PROJECT_ROOT } from "../../engine/paths";
import { ensureTinyModel, TINY_DATA } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { dropScript, findChromium, SCREENSHOTS, openApp, shot, startHarness, type Harness } from "./harness";

const chromiumPath = findChromium();
const PAIRS = join(PROJECT_ROOT, "examples", "data", "tiny-pairs.jsonl");

describe.skipIf(!chromiumPath)("preference journey in chromium", () => {
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

  const next = async (page: Page) => {
    const button = page.getByRole("button", { name: "Next" });
    await page.waitForFunction(() => !(document.querySelector(".step-nav button.primary") as HTMLButtonElement | null)?.disabled, null, { timeout: 30_000 });
    await button.click();
  };
  const heading = (page: Page, text: string) => page.getByRole("heading", { name: text }).waitFor({ timeout: 30_000 });
  const waitState = (page: Page, state: string) =>
    page.waitForFunction((s) => document.querySelector('[data-testid="run-state"]')?.textContent === s, state, { timeout: 120_000 });

  it("SFT, then DPO chained from it, evaluated and exported; reloads lose nothing", async () => {
    const { page, errors } = await openApp(h);
    const t0 = Date.now();
    const lap = (what: string) => console.log(`[e2e preference] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // Step 1: a made-up folder is refused at once; the real one passes every check.
    await page.getByLabel("Local model folder").fill("/no/such/model");
    await page.getByText("There is no folder at /no/such/model.").first().waitFor();
    await expect(page.getByRole("button", { name: "Next" }).isDisabled()).resolves.toBe(true);
    await page.getByLabel("Local model folder").fill(model);
    await page.getByRole("list", { name: "Model folder check" }).waitFor();
    await page.getByLabel("Run name").fill("e2e-sft");
    await next(page);
    // Focus moved to the new step's heading.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("step-title");

    await page.evaluate(dropScript, { name: "tiny-chat.jsonl", text: readFileSync(TINY_DATA, "utf8") });
    await page.getByTestId("verdict").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("verdict").textContent()).toMatch(/^✓ Ready to train/);
    await next(page);
    await page.getByLabel(/^NEFTune/).uncheck();
    await next(page);
    await page.getByLabel("Learning rate").fill("0.01");
    await page.getByText("Advanced settings").click();
    await page.getByLabel(/^Max steps/).fill("3");
    await page.getByLabel("Checkpoint every N steps").fill("3");
    await page.getByTestId("plan").waitFor({ timeout: 30_000 });
    await next(page);
    await page.getByRole("button", { name: "Start training" }).click();

    // Reload mid-training: the run is the engine's; the wizard comes back on the Train step, nothing greyed out.
    await page.getByTestId("run-state").waitFor();
    await page.reload();
    await heading(page, "5. Train");
    expect(await page.getByRole("button", { name: /Settings$/ }).isDisabled()).toBe(false);
    await waitState(page, "completed");
    lap("SFT trained");

    // Chain: a new run from this one keeps model and settings, starts from its adapter, asks for data again.
    await page.getByRole("button", { name: "New run from this one" }).click();
    await heading(page, "2. Data");
    await page.evaluate(dropScript, { name: "tiny-pairs.jsonl", text: readFileSync(PAIRS, "utf8") });
    await page.getByTestId("verdict").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("verdict").textContent()).toMatch(/^✓ Ready to train: 48 pairs/);
    await shot(page, "dpo-2-data");
    await next(page);

    // Method: the SFT run is the starting point, with its lineage; DPO with its settings explained.
    const sftChoice = page.getByRole("radio", { name: /e2e-sft/ });
    expect(await sftChoice.isChecked()).toBe(true);
    await page.getByRole("radio", { name: /^DPO/ }).check();
    await page.getByLabel("β (beta)").waitFor();
    expect(await page.getByText(/How far the model may move from the starting point/).count()).toBe(1);
    expect(await page.getByLabel("Run name").inputValue()).toBe("e2e-sft-dpo");
    await shot(page, "dpo-3-method");

    // Reload mid-wizard: the step, the draft and what was checked survive; nothing greys out.
    await page.reload();
    await heading(page, "3. Method");
    expect(await page.getByRole("radio", { name: /^DPO/ }).isChecked()).toBe(true);
    expect(await page.getByRole("radio", { name: /e2e-sft/ }).isChecked()).toBe(true);
    expect(await page.getByRole("button", { name: /Data$/ }).isDisabled()).toBe(false);
    expect(await page.getByText("The dataset has errors that block training").count()).toBe(0);
    await next(page);

    await page.getByLabel("Learning rate").fill("0.005");
    await page.getByLabel("Validation split").fill("0.1");
    await page.getByText("Advanced settings").click();
    await page.getByLabel(/^Max steps/).fill("2");
    await page.getByLabel("Checkpoint every N steps").fill("2");
    expect(await page.getByTestId("plan").textContent({ timeout: 30_000 })).toMatch(/Peak memory about/);
    await shot(page, "dpo-4-settings");
    await next(page);
    expect(await page.getByText(/continue from run DPO|continue from run SFT/).count()).toBeGreaterThan(0);
    await page.getByRole("button", { name: "Start training" }).click();
    await waitState(page, "completed");
    await page.locator(".chart").first().waitFor();
    lap("DPO trained");
    await shot(page, "dpo-5-train");
    await next(page);

    await page.getByLabel("Judge", { exact: true }).fill(judge);
    await page.getByLabel("Prompt limit").fill("2");
    await page.getByLabel("Answer tokens").fill("6");
    await page.getByRole("button", { name: "Evaluate", exact: true }).click();
    await page.getByTestId("eval-summary").waitFor({ timeout: 120_000 });
    lap("judged");
    await shot(page, "dpo-6-evaluate");
    await next(page);

    const out = join(h.home, "exported-dpo");
    await page.getByLabel("Destination folder").fill(out);
    await page.getByRole("button", { name: "Export", exact: true }).click();
    await page.getByTestId("export-result").waitFor({ timeout: 120_000 });
    for (const f of readdirSync(out)) expect((statSync(join(out, f)).mode & 0o777).toString(8), f).toBe("644");
    lap("exported");
    await shot(page, "dpo-7-export");

    // The DPO run's page: lineage as a table, naming the SFT run it started from.
    await page.getByRole("button", { name: "Runs" }).click();
    await page.getByRole("button", { name: /^e2e-sft \(/ }).first().waitFor();
    const runs = await page.locator("table.runs tbody tr").count();
    expect(runs).toBe(2);
    await page.locator("table.runs tbody tr").first().getByRole("button").first().click();
    const lineage = page.getByTestId("lineage-table");
    await lineage.waitFor();
    // The parent's own row (its method) arrives with a second request: wait for it, not just the table.
    await page.waitForFunction(() => /Started from.*SFT/.test(document.querySelector('[data-testid="lineage-table"]')?.textContent ?? ""), null, { timeout: 20_000 });
    expect(await lineage.textContent()).toMatch(/Started from.*e2e-sft.*SFT/);
    expect(await page.getByTestId("config-table").textContent()).toMatch(/starts from/);
    await shot(page, "dpo-run-lineage");
    expect(errors).toEqual([]);
  });
});
