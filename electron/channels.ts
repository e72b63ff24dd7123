/**
 * Every IPC channel name, in one place for the main process (ipc.ts, hub-token.ts) and the preload.
 * Constants only: the sandboxed preload bundles this file and nothing of the main process.
 */
export const CHANNELS = {
  call: "whetstone:call",
  event: "whetstone:event",
  ready: "whetstone:ready",
  setupState: "whetstone:setup-state",
  setupEvent: "whetstone:setup",
} as const;

export const TOKEN_CHANNELS = {
  has: "whetstone:token-has",
  set: "whetstone:token-set",
  clear: "whetstone:token-clear",
} as const;
