/**
 * The preload: named methods only. Page code never sees ipcRenderer or the IPC event object.
 * Bundled to CommonJS (sandboxed preloads cannot import modules).
 */
import { contextBridge, ipcRenderer } from "electron";

const CALL = "whetstone:call";
const EVENT = "whetstone:event";
const READY = "whetstone:ready";

contextBridge.exposeInMainWorld("whetstone", {
  call: async (method: string, input: unknown) => {
    const r = (await ipcRenderer.invoke(CALL, method, input)) as { ok: boolean; result?: unknown; error?: { code: string; message: string; hint: string } };
    if (!r.ok) throw Object.assign(new Error(r.error?.message), { code: r.error?.code, hint: r.error?.hint });
    return r.result;
  },
  onEvent: (callback: (event: unknown) => void) => {
    const listener = (_e: unknown, payload: unknown) => callback(payload);
    ipcRenderer.on(EVENT, listener);
    ipcRenderer.send(READY);
    return () => void ipcRenderer.removeListener(EVENT, listener);
  },
});
