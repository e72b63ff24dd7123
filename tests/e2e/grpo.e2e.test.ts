/**
 * The GRPO journey in a real browser on the tiny fixture model: prompts dropped in, GRPO chosen with
 * its settings, the default reward pointed at a field the data lacks (the Method step says so before
 * anything runs), then at the right one, trained, and the run's page showing the answers it sampled
 * with their rewards. Screenshots go to test-results/e2e/.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { PROJECT_ROOT } from "../../engine/paths";
import { ensureTinyModel } from "../helpers/fixture";
import { dropScript, findChromium, SCREENSHOTS, openApp, shot, startHarness, type Harness } from "./harness";

const chromiumPath = findChromium();
const PROMPTS = join(PROJECT_ROOT, "examples", "data", "tiny-grpo.jsonl");

describe.skipIf(!chromiumPath)("GRPO journey in chromium", () => {
  let h: Harness;
  let model: string;

  beforeAll(async () => {
    model = ensureTinyModel();
    h = await startHarness(chromiumPath!);
  });
  afterAll(async () => {
    await h?.close();
  });

  const next = async (page: Page) => {
    await page.waitForFunction(() => !(document.querySelector(".step-nav button.primary") as HTMLButtonElement | null)?.disabled, null, { timeout: 30_000 });
    await page.getByRole("button", { name: "Next" }).click();
  };

  it("prompts, GRPO with a reward on the data's own field, trained; the run shows its sampled answers and their rewards", async () => {
    const { page, errors } = await openApp(h);

    await page.getByLabel("Local model folder").fill(model);
    await page.getByRole("list", { name: "Model folder check" }).waitFor();
    await page.getByLabel("Run name").fill("e2e-grpo");
    await next(page);

    await page.evaluate(dropScript, { name: "tiny-grpo.jsonl", text: readFileSync(PROMPTS, "utf8") });
    await page.getByTestId("verdict").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("verdict").textContent()).toMatch(/^✓ Ready to train: 24/);
    await next(page);

    // Method: SFT cannot take prompts alone; GRPO can, with its settings and rewards.
    expect(await page.getByText(/The dataset holds prompts .* SFT trains on conversations: choose GRPO/).count()).toBe(1);
    await page.getByRole("radio", { name: /^GRPO/ }).check();
    await page.getByLabel("Answers per prompt").fill("16");
    await page.getByLabel("Longest answer (tokens)").fill("2");
    await page.getByLabel("β (beta)").fill("0");
    // The default reward compares a number with an `answer` column, which these rows do not have.
    await page.getByTestId("reward-fields").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("reward-fields").textContent()).toMatch(/24 of 24 rows have no “answer” field \(first: line 1\)/);
    await page.getByLabel("Reward 1: kind").selectOption("exact_match");
    await page.getByLabel("Field with the expected answer").fill("letter");
    await page.getByLabel("Where the answer is in the reply (optional)").fill("^\\W*(\\w)");
    await page.getByTestId("reward-fields").waitFor({ state: "detached", timeout: 30_000 });
    await page.getByLabel(/^NEFTune/).uncheck();
    await shot(page, "grpo-3-method");
    await next(page);

    await page.getByLabel("Learning rate").fill("0.02");
    await page.getByText("Advanced settings").click();
    await page.getByLabel(/^Max steps/).fill("11");
    await page.getByLabel("Warmup ratio").fill("0");
    await page.getByLabel("Checkpoint every N steps").fill("11");
    expect(await page.getByTestId("plan").textContent({ timeout: 30_000 })).toMatch(/Peak memory about/);
    await next(page);
    await page.getByRole("button", { name: "Start training" }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid="run-state"]')?.textContent === "completed", null, { timeout: 180_000 });

    // The run's page: reward charts, and the answers sampled in rounds 1 and 11 with what each scored.
    await page.getByText(/^Sampled answers \(round 11, step 11\)/).waitFor({ timeout: 30_000 });
    const rows = page.locator(".samples tbody tr");
    expect(await rows.count()).toBe(16);
    for (const text of await rows.allTextContents()) expect(text).toMatch(/(0|1)\.00$/);
    expect(await page.locator(".chart").filter({ hasText: "reward" }).count()).toBeGreaterThan(0);
    await page.getByLabel("Round").selectOption("1");
    await page.getByText(/^Sampled answers \(round 1, step 1\)/).waitFor();
    await shot(page, "grpo-5-train");
    expect(errors).toEqual([]);
  });
});
