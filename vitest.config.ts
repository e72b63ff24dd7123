import { defineConfig } from "vitest/config";

const ALONE = "tests/scripts/cli-bundle.test.ts";

/**
 * Most of the time goes to Python workers (imports, then a few training steps of the tiny model), and
 * a worker's imports run on one core. Two test files at a time keep a 2-core machine busy, and each
 * worker's torch gets one thread so the two do not fight over cores (oversubscribed OpenMP threads
 * spin and slow both down). Files run slowest first (vitest orders by the durations it cached).
 *
 * Limits are generous on purpose: a functional test must not fail because the machine is busy (two
 * CPU burners beside the suite make everything 2-3x slower); a limit is only there to end a hang.
 * Tests wait on the engine's events or the run's files, never on a fixed sleep.
 */
export default defineConfig({
  test: {
    environment: "node",
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    env: { OMP_NUM_THREADS: "1" },
    globalSetup: ["tests/helpers/global-setup.ts"],
    // The CLI bundle test makes the shared dist/cli bundle stale on purpose; any CLI another file starts
    // meanwhile rebuilds it (as designed), which raced its check under load. It runs after the rest, alone.
    projects: [
      { extends: true, test: { name: "main", include: ["tests/**/*.test.ts", "tests/**/*.test.tsx"], exclude: ["tests/e2e/**", "node_modules/**", ALONE] } },
      { extends: true, test: { name: "alone", include: [ALONE], sequence: { groupOrder: 1 } } },
    ],
  },
});
