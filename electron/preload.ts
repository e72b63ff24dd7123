/**
 * The preload: named methods only. Page code never sees ipcRenderer or the IPC event object.
 * Bundled to CommonJS (sandboxed preloads cannot import modules).
 */
import { contextBridge, ipcRenderer, webUtils } from "electron";
import { CHANNELS, TOKEN_CHANNELS } from "./channels";

const { call: CALL, event: EVENT, ready: READY, setupState: SETUP_STATE, setupEvent: SETUP_EVENT } = CHANNELS;
const { has: TOKEN_HAS, set: TOKEN_SET, clear: TOKEN_CLEAR } = TOKEN_CHANNELS;

type Reply = { ok: boolean; result?: unknown; error?: { code: string; message: string; hint: string } };
function unwrap(r: Reply): unknown {
  if (!r.ok) throw Object.assign(new Error(r.error?.message), { code: r.error?.code, hint: r.error?.hint });
  return r.result;
}

contextBridge.exposeInMainWorld("whetstone", {
  call: async (method: string, input: unknown) => unwrap((await ipcRenderer.invoke(CALL, method, input)) as Reply),
  onEvent: (callback: (event: unknown) => void) => {
    const listener = (_e: unknown, payload: unknown) => callback(payload);
    ipcRenderer.on(EVENT, listener);
    ipcRenderer.send(READY);
    return () => void ipcRenderer.removeListener(EVENT, listener);
  },
  /** A dropped or picked File's path on disk (Electron 32+: File.path is gone). */
  pathForFile: (file: File) => webUtils.getPathForFile(file),
  /** First launch: the worker's Python environment being created. */
  setupState: () => ipcRenderer.invoke(SETUP_STATE),
  onSetup: (callback: (event: unknown) => void) => {
    const listener = (_e: unknown, payload: unknown) => callback(payload);
    ipcRenderer.on(SETUP_EVENT, listener);
    return () => void ipcRenderer.removeListener(SETUP_EVENT, listener);
  },
  /** The Hugging Face token (electron/hub-token.ts): whether one is there, set, clear. It is never read back. */
  hasToken: async () => unwrap((await ipcRenderer.invoke(TOKEN_HAS)) as Reply),
  setToken: async (token: string) => unwrap((await ipcRenderer.invoke(TOKEN_SET, token)) as Reply),
  clearToken: async () => unwrap((await ipcRenderer.invoke(TOKEN_CLEAR)) as Reply),
});
