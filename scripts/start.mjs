#!/usr/bin/env node
/**
 * `npm start`: build the UI, then open it in Electron; where the Electron binary is absent (no
 * network at install time), serve the same UI on a loopback port with a per-launch token and
 * print the URL to open in a browser.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const say = (m) => console.log(`[whetstone] ${m}`);

say("building the UI (renderer/dist)…");
const vite = spawnSync(process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", "renderer/vite.config.ts", "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
if (vite.status !== 0) process.exit(vite.status ?? 1);

const electronDir = join(ROOT, "node_modules", "electron");
const hasElectron = existsSync(join(electronDir, "path.txt")) && existsSync(join(electronDir, "dist"));
if (hasElectron && !process.argv.includes("--browser")) {
  say("building the Electron main process…");
  const common = { bundle: true, platform: "node", target: "node20", external: ["electron"], sourcemap: true, logLevel: "warning" };
  await build({ ...common, entryPoints: [join(ROOT, "electron/main.ts")], outfile: join(ROOT, "electron/dist/main.js"), format: "esm", packages: "external" });
  await build({ ...common, entryPoints: [join(ROOT, "electron/preload.ts")], outfile: join(ROOT, "electron/dist/preload.cjs"), format: "cjs" });
  // The judge thread of a packaged app (engine/util/layout.ts): plain JS, no tsx loader inside app.asar.
  await build({ ...common, entryPoints: [join(ROOT, "engine/judge/thread.ts")], outfile: join(ROOT, "electron/dist/judge-thread.mjs"), format: "esm", packages: "external" });
  const { default: electronPath } = await import("electron");
  const child = spawn(electronPath, [join(ROOT, "electron/dist/main.js")], { stdio: "inherit" });
  child.on("close", (code) => process.exit(code ?? 0));
} else {
  say(hasElectron ? "--browser: serving the UI on a loopback port." : "The Electron binary is not installed (it could not be downloaded); serving the UI on a loopback port instead.");
  const child = spawn(process.execPath, [join(ROOT, "bin/whetstone.mjs"), "serve", ...process.argv.slice(2).filter((a) => a !== "--browser")], { stdio: "inherit" });
  process.on("SIGINT", () => child.kill("SIGINT"));
  child.on("close", (code) => process.exit(code ?? 0));
}
