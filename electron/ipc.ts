/**
 * The one IPC registrar: every channel comes from the engine's API contract, every sender must be
 * one of the app's own windows showing the app's own page, every payload is validated by the same
 * `dispatch` the HTTP server uses. Channel names live here and in the preload only.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from "electron";
import type { Engine } from "../engine/api/engine";
import type { EngineEvent } from "../engine/api/events";
import { API_METHODS } from "../engine/api/contract";
import { WhetstoneError } from "../engine/util/errors";

export const CHANNELS = {
  call: "whetstone:call",
  event: "whetstone:event",
  ready: "whetstone:ready",
} as const;

export const APP_ORIGIN = "app://whetstone";

export function isTrustedSender(event: Pick<IpcMainInvokeEvent, "senderFrame">, allowed: ReadonlySet<number>, webContentsId: number): boolean {
  const url = event.senderFrame?.url ?? "";
  return allowed.has(webContentsId) && (url === APP_ORIGIN || url.startsWith(`${APP_ORIGIN}/`));
}

export function registerIpc(ipcMain: IpcMain, engine: Engine, windows: () => WebContents[]): void {
  const trusted = () => new Set(windows().map((w) => w.id));
  ipcMain.handle(CHANNELS.call, async (event, method: unknown, input: unknown) => {
    if (!isTrustedSender(event, trusted(), event.sender.id)) throw new Error("IPC from an untrusted sender was refused.");
    if (typeof method !== "string" || !(API_METHODS as string[]).includes(method)) throw new Error(`Unknown API method ${String(method)}`);
    try {
      return { ok: true, result: await engine.dispatch(method, input) };
    } catch (e) {
      if (e instanceof WhetstoneError) return { ok: false, error: e.toJSON() };
      throw e;
    }
  });

  // Events raised before a window says it is ready are queued, not dropped.
  const ready = new Set<number>();
  const pending = new Map<number, EngineEvent[]>();
  ipcMain.on(CHANNELS.ready, (event) => {
    if (!isTrustedSender(event, trusted(), event.sender.id)) return;
    ready.add(event.sender.id);
    for (const e of pending.get(event.sender.id) ?? []) event.sender.send(CHANNELS.event, e);
    pending.delete(event.sender.id);
  });
  engine.events.on("event", (e) => {
    for (const wc of windows()) {
      if (ready.has(wc.id)) wc.send(CHANNELS.event, e);
      else pending.set(wc.id, [...(pending.get(wc.id) ?? []), e].slice(-1000));
    }
  });
}
