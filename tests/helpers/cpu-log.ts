/**
 * `npm test -- --cpu` (scripts/test.mjs) sets WHETSTONE_CPU_LOG: each test file adds the CPU time its
 * process spent on it, and its finished child processes' (CLIs, spawned Python), to that file. It also
 * names the file in WHETSTONE_TEST_FILE meanwhile, so the fork server logs each forked worker's CPU under
 * the file that started it (engine/worker/whetstone_worker/forkserver.py). Linux only (/proc); otherwise
 * nothing is logged.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";

const LOG = process.env.WHETSTONE_CPU_LOG;
const TICKS = 100; // USER_HZ: /proc's clock ticks per second on Linux

/** This process's CPU seconds, its own and its waited-for children's (fields 14-17 of /proc/self/stat). */
function cpu(): { own: number; children: number } {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  const n = (i: number) => Number(fields[i]) / TICKS;
  return { own: n(11) + n(12), children: n(13) + n(14) };
}

if (LOG && existsSync("/proc/self/stat")) {
  let file = "";
  let start = { own: 0, children: 0 };
  beforeAll(({}, suite) => { // vitest wants the context destructured; the file is the second argument
    file = suite.file.filepath.replace(/^.*?\/tests\//, "tests/");
    process.env.WHETSTONE_TEST_FILE = file;
    start = cpu();
  });
  afterAll(() => {
    const end = cpu();
    appendFileSync(LOG, JSON.stringify({ file, node: end.own - start.own, children: end.children - start.children }) + "\n");
    delete process.env.WHETSTONE_TEST_FILE; // before shared-process.ts compares the environment
  });
}
