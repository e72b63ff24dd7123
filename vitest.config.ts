import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts", "tests/**/*.test.tsx"],
    exclude: ["tests/e2e/**", "node_modules/**"],
    environment: "node",
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Worker processes are CPU-heavy and the machine small: one test file at a time.
    fileParallelism: false,
  },
});
