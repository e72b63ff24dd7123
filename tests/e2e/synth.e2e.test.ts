/**
 * "Generate data with a model" in the Data step, end to end in a real browser on the tiny fixture
 * model: 3 rows from the model's own chat template (magpie; the cut-off filter off, as the engine's
 * synth tests do, since a random model rarely ends a turn; short token limits), progress from the
 * engine's `synth` events, the report in words, then "Use this file" and the Data step's check of
 * the generated file. The panel is screenshotted while it runs and when it is done.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTinyModel } from "../helpers/fixture";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { findChromium, SCREENSHOTS, openApp, shot, startHarness, type Harness } from "./harness";

const chromiumPath = findChromium();
if (!chromiumPath && process.env.CI) throw new Error("chromium is not installed: `npm run setup` installs it as root (apt-get install -y chromium).");

describe.skipIf(!chromiumPath)("synthetic data in chromium", () => {
  let h: Harness;
  let model: string;

  beforeAll(async () => {
    model = ensureTinyModel();
    h = await startHarness(chromiumPath!);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("generates 3 rows with the tiny model, reports them in words, and uses the file as the dataset", async () => {
    const { page, errors } = await openApp(h);
    await page.getByLabel("Local model folder").fill(model);
    await page.getByRole("button", { name: "Next" }).click();

    await page.getByText("Generate data with a model").click();
    const out = join(h.home, "synthetic", "synth-magpie.jsonl");
    expect(await page.getByLabel("Save the rows to").inputValue()).toBe(out); // no data chosen yet: the engine's folder
    await page.getByLabel("How many rows").fill("3");
    await page.getByText("More options").click();
    await page.getByLabel(/^Drop cut-off answers/).uncheck();
    await page.getByLabel("Longest prompt (tokens)").fill("6");
    await page.getByLabel("Longest answer (tokens)").fill("5");
    const panel = page.locator("details.synth");

    // The engine's answer is held back until the progress from its events has been seen and
    // screenshotted: on the tiny model the rows themselves take milliseconds.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    await page.route("**/api/synthData", async (route) => {
      const response = await route.fetch();
      await released;
      await route.fulfill({ response });
    });
    await page.getByRole("button", { name: "Generate rows" }).click();
    const text = page.getByTestId("synth-progress-text");
    await page.waitForFunction(() => /^3 of 3 rows written · \d+ candidates tried, \d+ dropped · finishing$/.test(document.querySelector('[data-testid="synth-progress-text"]')?.textContent ?? ""), null, { timeout: 60_000 });
    expect(await page.getByRole("button", { name: "Cancel" }).isEnabled()).toBe(true);
    expect(await text.textContent()).toMatch(/candidates tried/);
    await panel.screenshot({ path: join(SCREENSHOTS, "2-data-synth-running.png") });
    release();

    const report = page.getByTestId("synth-report");
    await report.waitFor({ timeout: 30_000 });
    const said = (await report.textContent())!;
    expect(said).toContain("✓ 3 of 3 rows in synth-magpie.jsonl, in ");
    expect(said).toMatch(/\d+ candidates? tried; /);
    expect(said).toContain("No held-out prompts were given");
    expect(said).not.toMatch(/--[a-z]|magpie\b(?!\.jsonl)|truncated|maxNewTokens/);
    await panel.screenshot({ path: join(SCREENSHOTS, "2-data-synth-done.png") });

    const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { messages: { role: string }[]; synth: { method: string } });
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.synth.method === "magpie" && r.messages.map((m) => m.role).join() === "user,assistant")).toBe(true);

    // The panel reads the file again: a rerun would continue it, and with 3 of 3 there is nothing left to write.
    expect(await page.getByTestId("synth-resume").textContent({ timeout: 10_000 })).toMatch(/^The file already holds 3 rows, as many as asked for/);
    expect(await page.getByRole("button", { name: "Generate rows" }).isDisabled()).toBe(true);

    await page.getByRole("button", { name: "Use this file" }).click();
    const verdict = page.getByTestId("verdict");
    await verdict.waitFor({ timeout: 60_000 });
    expect(await verdict.textContent()).toMatch(/^✓/);
    expect(await page.locator(".report h3").first().textContent()).toMatch(/^synth-magpie\.jsonl .* 3 rows$/);
    await page.getByText(/The wizard trains on this file/).waitFor();
    expect(await page.getByRole("button", { name: "Next" }).isDisabled()).toBe(false);
    await page.screenshot({ path: join(SCREENSHOTS, "2-data-synth-used.png"), fullPage: true });
    expect(errors).toEqual([]);
  });

  it("from a list of subjects: copies the bundled list to edit, drafts syllabi, and keeps preference pairs the judge chose", async () => {
    const judge = ensureTinyJudge();
    const { page, errors } = await openApp(h, { viewport: { width: 1280, height: 1400 } });
    await page.getByLabel("Local model folder").fill(model);
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByText("Generate data with a model").click();
    await page.getByLabel(/^From a list of subjects/).check();
    await page.getByRole("button", { name: "Copy the bundled list to edit it" }).click();
    const copy = join(h.home, "synthetic", "glan-taxonomy.yaml");
    await page.getByTestId("synth-taxonomy-copied").waitFor();
    writeFileSync(copy, "# mine\nScience:\n  Physics:\n  Biology:\n    - Cells\n    - Genes\n"); // the user's edit
    await page.getByLabel("How many rows").fill("3");
    await page.getByText("Several answers, and a judge to choose").click();
    await page.getByLabel("Answers to each request").fill("2");
    await page.getByLabel(/^The best and the worst answer, as a preference pair/).check();
    await page.getByLabel("Smallest score gap").fill("0");
    await page.getByLabel("Judge", { exact: true }).fill(judge);
    await page.getByText("More options").click();
    await page.getByLabel(/^Drop cut-off answers/).uncheck();
    await page.getByLabel("Longest prompt (tokens)").fill("6");
    await page.getByLabel("Longest answer (tokens)").fill("5");
    const panel = page.locator("details.synth");
    await panel.screenshot({ path: join(SCREENSHOTS, "2-data-synth-glan-options.png") });
    // The screenshot of a panel taller than the window resizes it for a moment; a click right after can miss (the
    // first test screenshots only after clicking). Focusing a field first lets the layout settle.
    await page.getByLabel("How many rows").click();
    await page.getByRole("button", { name: "Generate rows" }).click();
    const report = page.getByTestId("synth-report");
    const ended = page.locator('[data-testid="synth-report"], .synth-body [role="alert"]').first();
    await ended.waitFor({ timeout: 240_000 });
    expect(await page.locator(".synth-body [role=alert]").count(), await ended.textContent() ?? "").toBe(0);
    const said = (await report.textContent())!;
    expect(said).toContain("✓ 3 of 3 rows in synth-glan-pairs.jsonl");
    expect(said).toMatch(/Course syllabi for 2 subjects \(1 with the topics listed for them, 1 drafted now\)/);
    expect(said).toContain("Each row is a preference pair");
    await panel.screenshot({ path: join(SCREENSHOTS, "2-data-synth-glan-done.png") });
    const rows = readFileSync(join(h.home, "synthetic", "synth-glan-pairs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { chosen: unknown; synth: { taxonomy: { subject: string; sessions: string[]; concepts: string[] } } });
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r.synth.taxonomy.sessions.length * r.synth.taxonomy.concepts.length).toBeGreaterThan(0);
    expect(readFileSync(join(h.home, "synthetic", "synth-glan-pairs.syllabus.yaml"), "utf8")).toContain("subject: Physics");
    expect(errors).toEqual([]);
  });
});
