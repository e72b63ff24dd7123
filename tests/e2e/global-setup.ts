/**
 * Once per e2e run: the renderer built for production (as users get it) into a temp folder, which
 * every journey's harness serves (tests/e2e/harness.ts). Built per file, the six journeys paid six builds.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildRenderer } from "../helpers/renderer-build";

declare module "vitest" {
  export interface ProvidedContext {
    /** The built renderer's folder. */
    uiDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const ui = mkdtempSync(join(tmpdir(), "whetstone-ui-"));
  const vite = buildRenderer(ui);
  if (vite.status !== 0) throw new Error(`renderer build failed:\n${vite.output}`);
  project.provide("uiDir", ui);
  return () => rmSync(ui, { recursive: true, force: true });
}
