/**
 * The `whetstone` CLI ships compiled: an esbuild bundle of engine/cli/main.ts (dist/cli/main.mjs and its chunks),
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
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
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

/** Chunk files older than this that the newest build does not use are removed (a CLI started before a
 *  rebuild may still import its own chunks for a while). */
const STALE_CHUNK_MS = 10 * 60 * 1000;

/**
 * Builds the bundle, split into chunks: `whetstone help` loads the entry and the option tables only,
 * a command's modules load when it runs. Every file but main.mjs is named by its content's hash and
 * written through a temp file and a rename, and main.mjs (one line naming the entry of this build) is
 * replaced last: CLIs started at once, or during a rebuild, never read half a file or a mix of builds.
 */
export async function buildCliBundle() {
  const { build } = await import("esbuild");
  const outdir = dirname(CLI_BUNDLE);
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { main: join(ROOT, "engine", "cli", "main.ts") },
    outdir,
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    minify: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: EXTERNAL,
    logLevel: "error",
    write: false,
    // Inlined CommonJS packages (csv-parse's dependencies) call require().
    banner: { js: 'import { createRequire as __whetstoneRequire } from "node:module"; const require = __whetstoneRequire(import.meta.url);' },
  });
  const written = new Set();
  let entry;
  for (const file of result.outputFiles) {
    writeAtomically(file.path, file.contents);
    written.add(basename(file.path));
    if (basename(file.path).startsWith("main-")) entry = basename(file.path);
  }
  writeAtomically(CLI_BUNDLE, `export * from "./${entry}";\n`);
  written.add(basename(CLI_BUNDLE));
  const now = Date.now();
  for (const name of readdirSync(outdir)) {
    const path = join(outdir, name);
    if (!written.has(name) && now - statSync(path).mtimeMs > STALE_CHUNK_MS) rmSync(path, { force: true });
  }
  return CLI_BUNDLE;
}

function writeAtomically(path, contents) {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, contents);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}
