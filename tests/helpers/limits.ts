/**
 * The one limit for a child process a test waits on (a CLI, a reference script): only there to end a
 * hang, so generous enough that a busy machine never hits it, and below vitest's testTimeout
 * (vitest.config.ts) so the test fails on the hung command with its output, not on a bare timeout.
 */
export const HANG_MS = 540_000;
