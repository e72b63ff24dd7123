/**
 * The one IPC registrar: every handler goes through `register`, which refuses senders that are not
 * one of the app's own windows showing the app's own page and validates the payload against the
 * channel's zod schema before the handler runs. API calls then get the loopback server's path
 * checks (engine/server/arguments.ts) and are validated again, against the engine's contract, by
 * the same `dispatch` the HTTP server uses. Channel names live here and in
 * the preload only.
 */
import type { IpcMain, IpcMainEvent, IpcMainInvokeEvent, WebContents } from "electron";
import { z } from "zod";
import type { Engine } from "../engine/api/engine";
import type { EngineEvent } from "../engine/api/events";
import { API_METHODS } from "../engine/api/contract";
import { WhetstoneError } from "../engine/util/errors";
import { checkApiArguments } from "../engine/server/arguments";
import { systemErrorInfo } from "../engine/server/reply";

export { CHANNELS } from "./channels";
import { CHANNELS } from "./channels";

export const APP_ORIGIN = "app://whetstone";

export function isAppUrl(url: string): boolean {
  return url === APP_ORIGIN || url.startsWith(`${APP_ORIGIN}/`);
}

export function isTrustedSender(event: Pick<IpcMainInvokeEvent, "senderFrame">, allowed: ReadonlySet<number>, webContentsId: number): boolean {
  return allowed.has(webContentsId) && isAppUrl(event.senderFrame?.url ?? "");
}

export class IpcRefused extends Error {}

export interface Registrar {
  /** An invoke channel: (sender check, payload check) → handler's result. */
  handle<S extends z.ZodType>(channel: string, schema: S, handler: (input: z.output<S>, event: IpcMainInvokeEvent) => unknown): void;
  /** A one-way message channel, same checks; refused messages are dropped. */
  on<S extends z.ZodType>(channel: string, schema: S, handler: (input: z.output<S>, event: IpcMainEvent) => void): void;
}

export function createRegistrar(ipcMain: Pick<IpcMain, "handle" | "on">, windows: () => Pick<WebContents, "id">[]): Registrar {
  const trusted = (event: IpcMainEvent | IpcMainInvokeEvent) => isTrustedSender(event, new Set(windows().map((w) => w.id)), event.sender.id);
  return {
    handle(channel, schema, handler) {
      ipcMain.handle(channel, async (event, ...args: unknown[]) => {
        if (!trusted(event)) throw new IpcRefused(`IPC on ${channel} from an untrusted sender was refused.`);
        const parsed = schema.safeParse(args);
        if (!parsed.success) throw new IpcRefused(`IPC on ${channel}: bad payload (${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}).`);
        return handler(parsed.data, event);
      });
    },
    on(channel, schema, handler) {
      ipcMain.on(channel, (event, ...args: unknown[]) => {
        if (!trusted(event)) return;
        const parsed = schema.safeParse(args);
        if (parsed.success) handler(parsed.data, event);
      });
    },
  };
}

const CallArgs = z.tuple([z.enum(API_METHODS as [string, ...string[]]), z.unknown()]);

/** The engine's API over IPC, and its events pushed to every window that said it is ready. */
export function registerEngineIpc(registrar: Registrar, engine: Pick<Engine, "dispatch" | "subscribe" | "store">, windows: () => Pick<WebContents, "id" | "send">[]): void {
  registrar.handle(CHANNELS.call, CallArgs, async ([method, input]) => {
    try {
      // The page is the app's, but what it passes may come from a dropped file or a pasted path: the same checks as the loopback server.
      checkApiArguments(method, input, { home: engine.store.home });
      return { ok: true, result: await engine.dispatch(method, input) };
    } catch (e) {
      if (e instanceof WhetstoneError) return { ok: false, error: e.toJSON() };
      const system = systemErrorInfo(e); // a file vanished, a broken link, the disk full: said as such, not as a crash
      if (system) return { ok: false, error: system };
      throw e;
    }
  });

  // Events raised before a window says it is ready are queued, not dropped.
  const ready = new Set<number>();
  const pending = new Map<number, EngineEvent[]>();
  registrar.on(CHANNELS.ready, z.tuple([]), (_input, event) => {
    ready.add(event.sender.id);
    for (const e of pending.get(event.sender.id) ?? []) event.sender.send(CHANNELS.event, e);
    pending.delete(event.sender.id);
  });
  engine.subscribe((e) => {
    for (const wc of windows()) {
      if (ready.has(wc.id)) wc.send(CHANNELS.event, e);
      else pending.set(wc.id, [...(pending.get(wc.id) ?? []), e].slice(-1000));
    }
  });
}
