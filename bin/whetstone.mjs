#!/usr/bin/env node
// The `whetstone` command: runs the TypeScript CLI through tsx (no build step to forget).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../engine/cli/main.ts");
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Child workers and timers must not keep a finished command alive.
setTimeout(() => process.exit(code), 50).unref();
