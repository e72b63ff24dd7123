#!/usr/bin/env node
// The `whetstone` command: runs the compiled CLI (dist/cli/main.mjs, see scripts/cli-bundle.mjs),
// rebuilt first when an engine source is newer; through tsx when esbuild is not installed.
import { pathToFileURL } from "node:url";
import { CLI_BUNDLE, buildCliBundle, cliBundleFresh } from "../scripts/cli-bundle.mjs";

async function loadCli() {
  if (!cliBundleFresh()) {
    try {
      await buildCliBundle();
    } catch (e) {
      if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
      const { register } = await import("tsx/esm/api");
      register();
      return import("../engine/cli/main.ts");
    }
  }
  return import(pathToFileURL(CLI_BUNDLE).href);
}

const { main } = await loadCli();
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Child workers and timers must not keep a finished command alive.
setTimeout(() => process.exit(code), 50).unref();
