/**
 * Test files share their worker process (vitest.config.ts: `isolate: false` saves each file a fresh
 * process and a fresh import of the engine, transformers.js and onnxruntime: about half the suite's
 * Node CPU). So a file must leave the process as it found it: this fails a file that changed
 * process.env or the working directory and did not put them back, naming what it changed.
 */
import { afterAll, beforeAll } from "vitest";

/** Set by libraries when first imported, once per process, the same whichever file imports them first: onnxruntime-node, and sharp (transformers.js's image library). */
const SET_BY_IMPORTS = new Set(["ORT_DISABLE_TELEMETRY", "VIPSHOME"]);

let env: Record<string, string | undefined> = {};
let cwd = "";

beforeAll(() => {
  env = { ...process.env };
  cwd = process.cwd();
});

afterAll(() => {
  const keys = new Set([...Object.keys(env), ...Object.keys(process.env)]);
  const changed = [...keys].filter((k) => env[k] !== process.env[k] && !(SET_BY_IMPORTS.has(k) && env[k] === undefined)).sort();
  if (changed.length) {
    throw new Error(`This test file changed process.env (${changed.join(", ")}) without restoring it. Test files share their process (vitest.config.ts, isolate: false): restore what you change, or give the engine its own env.`);
  }
  if (process.cwd() !== cwd) throw new Error(`This test file changed the working directory to ${process.cwd()} without restoring ${cwd}.`);
});
