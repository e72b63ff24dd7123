/**
 * The `whetstone` CLI ships compiled: one esbuild bundle of engine/cli/main.ts (dist/cli/main.mjs),
 * built by `npm install` and rebuilt by bin/whetstone.mjs whenever an engine source is newer.
 *
 * Why: transpiling the engine with tsx at every start cost ~2 s of CPU for `whetstone help` on a
 * 2-core machine; the bundle starts in a few hundred milliseconds. The trade-off is a freshness check
 * at each start (one stat per engine source, ~200 files, a few milliseconds) so that an edited source
 * never runs stale; a rebuild takes ~0.3 s. Packages stay in node_modules except the pure-JS ones the
 * CLI loads at start (yaml, zod, csv-parse, hyparquet), which are inlined: resolving their many small
 * ESM files was a third of the start-up. Native and heavy packages (onnxruntime-node,
 * @huggingface/transformers) stay external and are imported only when a command needs them.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_BUNDLE = join(ROOT, "dist", "cli", "main.mjs");
const EXTERNAL = ["onnxruntime-node", "@huggingface/transformers", "sharp", "electron"];

/** Newest modification time (ms) of the engine's TypeScript sources (the worker's Python aside). */
function newestSource(dir = join(ROOT, "engine")) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "worker" && dir.endsWith("engine")) continue;
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (/\.(ts|mjs|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether the bundle exists and no engine source (or package.json: dependencies) is newer. */
export function cliBundleFresh() {
  let built;
  try {
    built = statSync(CLI_BUNDLE).mtimeMs;
  } catch {
    return false;
  }
  return built >= Math.max(newestSource(), statSync(join(ROOT, "package.json")).mtimeMs);
}

/** Builds the bundle into a temp file and renames it in place: CLIs started at once never read half a file. */
export async function buildCliBundle() {
  const { build } = await import("esbuild");
  mkdirSync(dirname(CLI_BUNDLE), { recursive: true });
  const tmp = `${CLI_BUNDLE}.${process.pid}.${Date.now()}.tmp`;
  try {
    await build({
      entryPoints: [join(ROOT, "engine", "cli", "main.ts")],
      outfile: tmp,
      bundle: true,
      minify: true,
      platform: "node",
      format: "esm",
      target: "node20",
      external: EXTERNAL,
      logLevel: "error",
      // Inlined CommonJS packages (csv-parse's dependencies) call require().
      banner: { js: 'import { createRequire as __whetstoneRequire } from "node:module"; const require = __whetstoneRequire(import.meta.url);' },
    });
    renameSync(tmp, CLI_BUNDLE);
  } finally {
    rmSync(tmp, { force: true });
  }
  return CLI_BUNDLE;
}
