/**
 * The renderer's one way to the engine. The same typed client runs over Electron IPC (the preload's
 * `window.whetstone` bridge) and over loopback HTTP + server-sent events (a browser, the e2e tests),
 * both generated from the engine's API contract.
 */
import { API_METHODS, type ApiInput, type ApiMethod, type ApiOutput } from "../../../engine/api/contract";
import type { EngineEvent } from "../../../engine/api/events";

export interface Transport {
  call(method: ApiMethod, input: unknown): Promise<unknown>;
  subscribe(onEvent: (event: EngineEvent) => void): () => void;
}

export type EngineClient = { [M in ApiMethod]: (input: ApiInput<M>) => Promise<ApiOutput<M>> } & {
  subscribe(onEvent: (event: EngineEvent) => void): () => void;
};

export class EngineApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export function createClient(transport: Transport): EngineClient {
  const client = { subscribe: (cb: (e: EngineEvent) => void) => transport.subscribe(cb) } as EngineClient;
  for (const method of API_METHODS) {
    (client as unknown as Record<string, (input: unknown) => Promise<unknown>>)[method] = (input) => transport.call(method, input);
  }
  return client;
}

export function httpTransport(baseUrl: string, token: string): Transport {
  return {
    async call(method, input) {
      const res = await fetch(`${baseUrl}/api/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(input ?? {}),
      });
      const body = (await res.json()) as { ok: boolean; result?: unknown; error?: { code: string; message: string; hint: string } };
      if (!body.ok) throw new EngineApiError(body.error?.code ?? "HTTP_" + res.status, body.error?.message ?? res.statusText, body.error?.hint ?? "");
      return body.result;
    },
    subscribe(onEvent) {
      const source = new EventSource(`${baseUrl}/api/events?token=${encodeURIComponent(token)}`);
      const handler = (e: MessageEvent<string>) => onEvent(JSON.parse(e.data) as EngineEvent);
      for (const type of ["run", "metrics", "progress", "log"]) source.addEventListener(type, handler as EventListener);
      return () => source.close();
    },
  };
}

/** The preload's bridge, as typed in electron/preload.ts. */
export interface WhetstoneBridge {
  call(method: ApiMethod, input: unknown): Promise<unknown>;
  onEvent(callback: (event: EngineEvent) => void): () => void;
}

export function ipcTransport(bridge: WhetstoneBridge): Transport {
  return { call: (m, i) => bridge.call(m, i), subscribe: (cb) => bridge.onEvent(cb) };
}

/** Inside Electron use the bridge; in a browser, the token from the URL `whetstone serve` printed. */
export function defaultClient(win: Window & { whetstone?: WhetstoneBridge } = window): EngineClient {
  if (win.whetstone) return createClient(ipcTransport(win.whetstone));
  const token = new URL(win.location.href).searchParams.get("token") ?? sessionStorage.getItem("whetstone-token") ?? "";
  sessionStorage.setItem("whetstone-token", token);
  return createClient(httpTransport(win.location.origin, token));
}
