/**
 * Once per e2e run: the renderer built for production into a temp folder, which every journey's
 * harness serves (tests/e2e/harness.ts). Built per file, the six journeys paid six builds.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { PROJECT_ROOT } from "../../engine/paths";

declare module "vitest" {
  export interface ProvidedContext {
    /** The built renderer's folder. */
    uiDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const ui = mkdtempSync(join(tmpdir(), "whetstone-ui-"));
  // NODE_ENV as `npm start` and the packaged app build it (vitest sets "test": React's development build).
  const vite = spawnSync(process.execPath, [join(PROJECT_ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", "renderer/vite.config.ts", "--outDir", ui, "--emptyOutDir", "--logLevel", "warn"], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    env: { ...process.env, NODE_ENV: "production" },
  });
  if (vite.status !== 0) throw new Error(`renderer build failed:\n${vite.stderr}`);
  project.provide("uiDir", ui);
  return () => rmSync(ui, { recursive: true, force: true });
}
