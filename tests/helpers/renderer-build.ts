/**
 * `vite build` of the renderer as `npm start` and the packaged app build it: NODE_ENV=production.
 * Under vitest's NODE_ENV=test, Vite builds React's development bundle and says nothing about the Node
 * modules it leaves out of the bundle. `outDir`: a folder of its own (emptied), else renderer/dist.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../engine/paths";

export function buildRenderer(outDir?: string): { status: number | null; output: string } {
  const args = [join(PROJECT_ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", "renderer/vite.config.ts", "--logLevel", "warn", ...(outDir ? ["--outDir", outDir, "--emptyOutDir"] : [])];
  const r = spawnSync(process.execPath, args, { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, NODE_ENV: "production" } });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
