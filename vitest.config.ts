import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const ALONE = "tests/scripts/cli-bundle.test.ts";
/** Files that replace a module or a global for their own tests (vi.mock, vi.stubGlobal): each gets a fresh process. */
const ISOLATED = ["tests/faults/disk-full.test.ts", "tests/renderer/engine-client.test.ts"];

/**
 * vitest's order (slowest first, by the durations it cached), with each project's node files before its
 * jsdom ones (`@vitest-environment jsdom`). A shared worker process is kept for the next file only if
 * that file has the same environment; interleaved, the 11 renderer files ended a worker 23 times, and
 * each new one started Node and imported the engine, transformers.js and onnxruntime-node again.
 */
class NodeFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const jsdom = (f: TestSpecification) => (/@vitest-environment\s+jsdom\b/.test(readFileSync(f.moduleId, "utf8").slice(0, 4000)) ? 1 : 0);
    const projectAt = new Map<string, number>();
    sorted.forEach((f, i) => projectAt.has(f.project.name) || projectAt.set(f.project.name, i));
    const key = sorted.map((f, i) => [projectAt.get(f.project.name)!, jsdom(f), i] as const);
    return key.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).map(([, , i]) => sorted[i]!);
  }
}

/**
 * Most of the time goes to Python workers (imports, then a few training steps of the tiny model), and
 * a worker's imports run on one core. Two test files at a time keep a 2-core machine busy, and each
 * worker's torch gets one thread so the two do not fight over cores (oversubscribed OpenMP threads
 * spin and slow both down). Files run slowest first (vitest orders by the durations it cached; node
 * files before jsdom ones: NodeFilesFirst).
 *
 * Files share their worker process (isolate: false): a fresh process per file cost each of the ~120
 * files a Node start and a fresh import of the engine, transformers.js and onnxruntime-node, about
 * half the suite's Node CPU (a whole vitest run: 466 CPU-s isolated, 246 shared, 370 s → 266 s of
 * wall on this 2-core machine). tests/helpers/shared-process.ts fails a file that leaves
 * process.env or the working directory changed; files that mock a module or stub a global
 * (ISOLATED) still get a process each.
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
    sequence: { sequencer: NodeFilesFirst },
    // The CLI bundle test makes the shared dist/cli bundle stale on purpose; any CLI another file starts
    // meanwhile rebuilds it (as designed), which raced its check under load. It runs after the rest, alone.
    projects: [
      { extends: true, test: { name: "main", isolate: false, setupFiles: ["tests/helpers/shared-process.ts", "tests/helpers/cpu-log.ts", "tests/helpers/dom-limits.ts"], include: ["tests/**/*.test.ts", "tests/**/*.test.tsx"], exclude: ["tests/e2e/**", "node_modules/**", ALONE, ...ISOLATED] } },
      { extends: true, test: { name: "isolated", setupFiles: ["tests/helpers/cpu-log.ts"], include: ISOLATED } },
      { extends: true, test: { name: "alone", setupFiles: ["tests/helpers/cpu-log.ts"], include: [ALONE], sequence: { groupOrder: 1 } } },
    ],
  },
});
