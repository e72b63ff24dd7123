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
    // One torch thread per worker, as in vitest.config.ts: two journeys' workers on two cores with torch's
    // default of a thread per core oversubscribe them, and OpenMP's spinning threads burned ~5x the CPU
    // (a synth journey's workers: 2.4 CPU-s alone, 14 s each beside the rest of the suite).
    env: { OMP_NUM_THREADS: "1" },
    setupFiles: ["tests/helpers/cpu-log.ts"],
    globalSetup: ["tests/e2e/global-setup.ts"],
  },
});
