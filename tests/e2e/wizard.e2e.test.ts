/**
 * The wizard end to end in a real browser on the tiny fixture model: drop a dataset, read the
 * validation report, choose SFT with goldfish, train, watch the chart fill and the run finish,
 * audit, export, find the exported folder on disk, and push it to the loopback fake hub
 * (engine/worker/tests/fakehub.py). A second test drops a malformed file and reads the line-level
 * error. Each wizard step is screenshotted into test-results/e2e/.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { PROJECT_ROOT } from "../../engine/paths";
import { ensureTinyModel, tempHome, TINY_DATA } from "../helpers/fixture";
import { startFakeHub, type FakeHubProcess } from "../helpers/fakehub";
import { ensureTinyJudge } from "../engine/eval/tiny-judge";
import { dropScript, findChromium, SCREENSHOTS, openApp, shot, startHarness, type Harness } from "./harness";

const chromiumPath = findChromium();
if (!chromiumPath && process.env.CI) throw new Error("chromium is not installed: `npm run setup` installs it as root (apt-get install -y chromium).");

const HUB_TOKEN = "hf_E2eTokenForTheFakeHub0123456789";

describe.skipIf(!chromiumPath)("wizard in chromium", () => {
  let h: Harness;
  let hub: FakeHubProcess;
  let model: string;
  let judge: string;

  beforeAll(async () => {
    model = ensureTinyModel();
    judge = ensureTinyJudge();
    hub = await startFakeHub(tempHome(), { tokens: { [HUB_TOKEN]: "write" } });
    h = await startHarness(chromiumPath!, { workerEnv: { HF_ENDPOINT: hub.url, HF_TOKEN: HUB_TOKEN } });
  });
  afterAll(async () => {
    await h?.close();
    hub?.close();
  });

  const open = (theme: "light" | "dark" = "light") => openApp(h, { colorScheme: theme });
  const next = (page: Page) => page.getByRole("button", { name: "Next" }).click();

  it("drops a dataset, trains SFT with goldfish, evaluates with the tiny judge, exports, chats", async () => {
    const { page, errors } = await open();
    const t0 = Date.now();
    const lap = (what: string) => console.log(`[e2e] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await expect(page.getByRole("button", { name: "Next" }).isDisabled()).resolves.toBe(true);
    await page.getByLabel("Local model folder").fill(model);
    await page.getByLabel("Run name").fill("e2e-goldfish");
    await shot(page, "1-model");
    await next(page);

    await page.evaluate(dropScript, { name: "tiny-chat.jsonl", text: readFileSync(TINY_DATA, "utf8") });
    const verdict = page.getByTestId("verdict");
    await verdict.waitFor({ timeout: 60_000 });
    expect(await verdict.textContent()).toMatch(/^✓/);
    await page.getByLabel("Templated sample").waitFor();
    expect(await page.locator(".tok.trained").count()).toBeGreaterThan(0);
    // The upload landed in the engine's datasets/ folder, nowhere else.
    expect(readdirSync(join(h.home, "datasets")).filter((f) => f.endsWith("tiny-chat.jsonl"))).toHaveLength(1);
    lap("data checked");
    await shot(page, "2-data");
    await next(page);

    await page.getByLabel(/^SFT/).check();
    await page.getByLabel(/^NEFTune/).uncheck(); // noise drowns a 64-wide model (see examples/tiny-sft.yaml)
    await page.getByLabel(/^Goldfish loss/).check();
    await page.locator(".tok.dropped").first().waitFor({ timeout: 30_000 });
    await shot(page, "3-method");
    await next(page);

    await page.getByLabel("Learning rate").fill("0.01");
    await page.getByLabel("Micro-batch size").fill("2");
    await page.getByLabel("Max length (tokens)").fill("256");
    await page.getByLabel("LoRA rank").fill("8");
    await page.getByLabel("Validation split").fill("0.1");
    await page.getByText("Advanced settings").click();
    await page.getByLabel(/^Max steps/).fill("20");
    await page.getByLabel("Checkpoint every N steps").fill("10");
    expect(await page.getByTestId("plan").textContent({ timeout: 20_000 })).toMatch(/Peak memory about/);
    await shot(page, "4-settings");
    await next(page);

    await page.getByRole("button", { name: "Start training" }).click();
    const state = page.getByTestId("run-state");
    await page.waitForFunction(() => Number(document.querySelector(".chart")?.getAttribute("data-points") ?? 0) > 0, null, { timeout: 90_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="run-state"]')?.textContent === "completed", null, { timeout: 120_000 });
    expect(await state.textContent()).toBe("completed");
    const points = Number(await page.locator(".chart").first().getAttribute("data-points"));
    expect(points).toBeGreaterThanOrEqual(20);
    lap("trained");
    await shot(page, "5-train");
    await next(page);

    await page.getByLabel("Judge", { exact: true }).fill(judge);
    await page.getByLabel("Prompt limit").fill("4");
    await page.getByLabel("Answer tokens").fill("8");
    await page.getByRole("button", { name: "Evaluate", exact: true }).click();
    const summary = page.getByTestId("eval-summary");
    await summary.waitFor({ timeout: 120_000 });
    expect(await summary.textContent()).toMatch(/Wins \/ ties \/ losses of 4/);
    await page.getByText(/Answers side by side/).click();
    lap("judged");
    await shot(page, "6-evaluate");
    await next(page);

    const out = join(h.home, "exported-model");
    await page.getByLabel("Destination folder").fill(out);
    await page.getByRole("button", { name: "Export", exact: true }).click();
    await page.getByTestId("export-result").waitFor({ timeout: 120_000 });
    expect(await page.getByTestId("export-dir").textContent()).toBe(out);
    expect(existsSync(join(out, "config.json"))).toBe(true);
    expect(readdirSync(out).some((f) => f.endsWith(".safetensors"))).toBe(true);
    lap("exported");
    await shot(page, "7-export");

    // Ollama: the GGUF and a Modelfile, and the line that makes it an Ollama model.
    const ollamaOut = join(h.home, "ollama-model");
    await page.getByRole("radio", { name: /^ollama/ }).check();
    await page.getByLabel("Destination folder").fill(ollamaOut);
    await page.getByRole("button", { name: "Export", exact: true }).click();
    const create = page.getByTestId("ollama-create");
    await create.waitFor({ timeout: 120_000 });
    expect(await create.textContent()).toBe(`ollama create e2e-goldfish -f "${ollamaOut}/Modelfile"`); // the run's name
    const modelfile = readFileSync(join(ollamaOut, "Modelfile"), "utf8");
    expect(modelfile).toMatch(/^FROM \.\/\S+\.gguf$/m);
    expect(modelfile).toContain("<|im_start|>");
    lap("exported for ollama");
    await shot(page, "7-export-ollama");

    // Push to the Hugging Face Hub (the fake hub): the safetensors export above is the one uploaded.
    await page.getByLabel("Repository", { exact: true }).fill("fake-user/e2e-goldfish");
    await page.getByLabel(/^Private repository/).check();
    await page.getByRole("button", { name: "Push", exact: true }).click();
    const pushed = page.getByTestId("push-url");
    await pushed.waitFor({ timeout: 120_000 });
    expect(await pushed.getAttribute("href")).toBe(`${hub.url}/fake-user/e2e-goldfish`);
    expect(await page.getByTestId("push-result").textContent()).toContain("(private)");
    expect(hub.requests().filter((r) => r.method === "PUT").length).toBeGreaterThan(0);
    lap("pushed");
    await shot(page, "7-push");

    // The draft survives a reload (the app was closed and opened again).
    await page.reload();
    await page.getByRole("heading", { name: "7. Export" }).waitFor();
    await page.getByRole("button", { name: "Runs" }).click();
    await page.getByRole("button", { name: /e2e-goldfish/ }).click();
    await page.getByTestId("run-state").waitFor();
    await shot(page, "runs-detail");

    // The playground streams both models' answers side by side.
    await page.getByRole("button", { name: "Playground" }).click();
    await page.getByLabel("Max tokens").fill("12");
    await page.getByLabel("Message").fill("What is 2 plus 2?");
    await page.getByRole("button", { name: "Send" }).click();
    await page.waitForFunction(() => document.querySelectorAll(".chat .msg.assistant:not(.streaming)").length === 2, null, { timeout: 90_000 });
    lap("playground answered");
    await shot(page, "playground");
    expect(errors).toEqual([]);
  });

  it("drops a malformed file and shows the line-level error", async () => {
    const { page, errors } = await open("dark");
    await page.getByLabel("Local model folder").fill(model);
    await next(page);
    const file = join(PROJECT_ROOT, "tests/fixtures/datasets/malformed/bad-comma.jsonl");
    await page.evaluate(dropScript, { name: "bad-comma.jsonl", text: readFileSync(file, "utf8") });
    await page.getByTestId("verdict").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("verdict").textContent()).toMatch(/^✗/);
    const issues = await page.getByLabel("Dataset problems").textContent();
    expect(issues).toMatch(/DATA_JSON_SYNTAX/);
    expect(issues).toMatch(/bad-comma\.jsonl:3/);
    await expect(page.getByRole("button", { name: "Next" }).isDisabled()).resolves.toBe(true);
    await shot(page, "2-data-malformed-dark");
    expect(errors).toEqual([]);
  });
});
