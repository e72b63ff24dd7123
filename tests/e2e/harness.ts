/**
 * The e2e harness: the renderer (built once per run by global-setup.ts), the engine served in browser
 * mode on a temp home (the same `serve` as `whetstone serve`), and Debian's chromium driven by
 * playwright-core (never a downloaded browser: `npx playwright install` needs the network).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { inject } from "vitest";
import { Engine } from "../../engine/api/engine";
import { serve, type RunningServer } from "../../engine/server/http";
import { PROJECT_ROOT } from "../../engine/paths";

export const SCREENSHOTS = join(PROJECT_ROOT, "test-results", "e2e");

/** Debian's chromium (scripts/setup.mjs installs it as root / in CI), or $WHETSTONE_CHROMIUM. */
export function findChromium(): string | null {
  const candidates = [process.env.WHETSTONE_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"];
  for (const c of candidates) if (c && existsSync(c)) return c;
  const which = spawnSync("which", ["chromium"], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() : null;
}

export interface Harness {
  home: string;
  engine: Engine;
  server: RunningServer;
  browser: Browser;
  close(): Promise<void>;
}

/** `workerEnv`: what the engine's workers get besides this process's environment (the fake hub's address and token). */
export async function startHarness(executablePath: string, opts: { workerEnv?: NodeJS.ProcessEnv } = {}): Promise<Harness> {
  const ui = inject("uiDir"); // built once per run (global-setup.ts)
  const home = mkdtempSync(join(tmpdir(), "whetstone-e2e-home-"));
  const engine = new Engine({ home, workerEnv: opts.workerEnv });
  const server = await serve(engine, { staticDir: ui });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    home,
    engine,
    server,
    browser,
    async close() {
      await browser.close();
      await server.close();
      await engine.close();
    },
  };
}

/** Drop a file on the drop zone the way a user's drag does: a drop event carrying a DataTransfer. */
export function dropScript({ name, text }: { name: string; text: string }): void {
  const dt = new DataTransfer();
  dt.items.add(new File([text], name, { type: "application/octet-stream" }));
  const zone = document.querySelector('[data-testid="dropzone"]')!;
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
}

/** A whole-page screenshot into test-results/e2e/NAME.png. */
export const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/**
 * The app in a fresh browser context, its uncaught page errors collected. `ui`: the app's saved UI
 * state (theme, step, draft) for a first visit, as if the person had left it so.
 */
export async function openApp(
  h: Harness,
  opts: { viewport?: { width: number; height: number }; colorScheme?: "light" | "dark"; ui?: Record<string, unknown> } = {},
): Promise<{ page: Page; errors: string[] }> {
  const context = await h.browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 900 }, ...(opts.colorScheme ? { colorScheme: opts.colorScheme } : {}) });
  if (opts.ui) {
    await context.addInitScript((saved) => {
      if (!localStorage.getItem("whetstone-ui")) localStorage.setItem("whetstone-ui", saved);
    }, JSON.stringify({ state: opts.ui, version: 1 }));
  }
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(h.server.url);
  return { page, errors };
}
