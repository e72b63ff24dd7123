/**
 * The renderer's one way to the engine. The same typed client runs over Electron IPC (the preload's
 * `window.whetstone` bridge) and over loopback HTTP + server-sent events (a browser, the e2e tests),
 * both generated from the engine's API contract.
 */
import { API_METHODS, type ApiInput, type ApiMethod, type ApiOutput } from "../../../engine/api/contract";
import { ENGINE_EVENT_TYPES, type EngineEvent } from "../../../engine/api/events";

/** A dataset file the user dropped or picked, as the engine can read it: a path on this machine. */
export interface StoredFile {
  path: string;
  /** True when the bytes were copied into the engine's datasets/ folder (browser mode). */
  uploaded: boolean;
}

export interface Transport {
  call(method: ApiMethod, input: unknown): Promise<unknown>;
  subscribe(onEvent: (event: EngineEvent) => void): () => void;
  /** Electron reads the file in place (webUtils.getPathForFile); a browser uploads its bytes. */
  fileForEngine(file: File): Promise<StoredFile>;
}

export type EngineClient = { [M in ApiMethod]: (input: ApiInput<M>) => Promise<ApiOutput<M>> } & {
  subscribe(onEvent: (event: EngineEvent) => void): () => void;
  fileForEngine(file: File): Promise<StoredFile>;
  /** The API methods this engine build has (the wizard shows only what exists). */
  has(method: string): boolean;
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
  const client = {
    subscribe: (cb: (e: EngineEvent) => void) => transport.subscribe(cb),
    fileForEngine: (file: File) => transport.fileForEngine(file),
    has: (method: string) => (API_METHODS as string[]).includes(method),
  } as EngineClient;
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
      return unwrap(res);
    },
    async fileForEngine(file) {
      const res = await fetch(`${baseUrl}/api/uploadDataset?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", authorization: `Bearer ${token}` },
        body: file,
      });
      const { path } = (await unwrap(res)) as { path: string };
      return { path, uploaded: true };
    },
    subscribe(onEvent) {
      const source = new EventSource(`${baseUrl}/api/events?token=${encodeURIComponent(token)}`);
      const handler = (e: MessageEvent<string>) => onEvent(JSON.parse(e.data) as EngineEvent);
      for (const type of ENGINE_EVENT_TYPES) source.addEventListener(type, handler as EventListener);
      return () => source.close();
    },
  };
}

async function unwrap(res: Response): Promise<unknown> {
  const body = (await res.json()) as { ok: boolean; result?: unknown; error?: { code: string; message: string; hint: string } };
  if (!body.ok) throw new EngineApiError(body.error?.code ?? "HTTP_" + res.status, body.error?.message ?? res.statusText, body.error?.hint ?? "");
  return body.result;
}

/** The preload's bridge, as typed in electron/preload.ts. */
export interface WhetstoneBridge {
  call(method: ApiMethod, input: unknown): Promise<unknown>;
  onEvent(callback: (event: EngineEvent) => void): () => void;
  pathForFile(file: File): string;
  /** First launch (electron/first-launch.ts): null when the worker's Python environment exists. */
  setupState?(): Promise<SetupEvent | null>;
  onSetup?(callback: (event: SetupEvent) => void): () => void;
  /** The Hugging Face token (electron/hub-token.ts): write-only from the page, never read back. */
  hasToken?(): Promise<TokenStatus>;
  setToken?(token: string): Promise<TokenStatus>;
  clearToken?(): Promise<TokenStatus>;
}

/** As electron/hub-token.ts reports it. */
export interface TokenStatus {
  present: boolean;
  source: "environment" | "keychain" | "none";
  store: string | null;
  note: string | null;
}

export type TokenBridge = Required<Pick<WhetstoneBridge, "hasToken" | "setToken" | "clearToken">>;

/** The token methods when running inside Electron, else null (a browser has no keychain of its own here). */
export function tokenBridge(win: Window & { whetstone?: WhetstoneBridge } = window): TokenBridge | null {
  const b = win.whetstone;
  return b?.hasToken && b.setToken && b.clearToken ? (b as TokenBridge) : null;
}

export interface SetupEvent {
  state: "running" | "done" | "failed";
  line: string;
  fraction: number;
}

export function ipcTransport(bridge: WhetstoneBridge): Transport {
  return {
    call: async (m, i) => {
      try {
        return await bridge.call(m, i);
      } catch (e) {
        const err = e as Error & { code?: string; hint?: string };
        throw new EngineApiError(err.code ?? "IPC_ERROR", err.message, err.hint ?? "");
      }
    },
    subscribe: (cb) => bridge.onEvent(cb),
    fileForEngine: async (file) => ({ path: bridge.pathForFile(file), uploaded: false }),
  };
}

/** Inside Electron use the bridge; in a browser, the token from the URL `whetstone serve` printed. */
export function defaultClient(win: Window & { whetstone?: WhetstoneBridge } = window): EngineClient {
  if (win.whetstone) return createClient(ipcTransport(win.whetstone));
  const token = new URL(win.location.href).searchParams.get("token") ?? sessionStorage.getItem("whetstone-token") ?? "";
  sessionStorage.setItem("whetstone-token", token);
  return createClient(httpTransport(win.location.origin, token));
}
