/** The end-to-end suite (a real browser, a real engine, the tiny model): `npm test` runs it as its own phase. */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["tests/e2e/**/*.e2e.test.ts"],
    environment: "node",
    // Each journey trains the tiny model, judges and exports; on a loaded 2-core machine that takes minutes.
    // Limits only end a hang (see vitest.config.ts).
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Two journeys at a time: each is a browser waiting on its own engine (own home, own port), which
    // trains in short bursts, so one at a time left a core of a 2-core machine idle.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
