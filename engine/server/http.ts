/**
 * The loopback HTTP server: the engine's API for a browser (and for tests), the same contract the
 * Electron bridge exposes over IPC. Wiring only; each concern has its file:
 *
 *   POST /api/<method>        JSON body = the method's input; 200 {ok:true,result} or 4xx {ok:false,error}
 *   GET  /api/events          server-sent events: every EngineEvent as `data: {json}`
 *   GET  /api/contract        the method names (for clients to check they match)
 *   POST /api/uploadDataset?name=F  raw file bytes (a browser's dropped File has no path): stored
 *                             under <home>/datasets/, answers {path, bytes, sha256} to inspect
 *   GET  /*                   the built renderer (renderer/dist), when there is one (static.ts)
 *
 * guards.ts: Host, Origin and token checks. body.ts: bodies read with a limit. arguments.ts: path
 * arguments. status.ts: error code → HTTP status (only INTERNAL is a 5xx). reply.ts: answers.
 * It binds to 127.0.0.1 only unless told otherwise.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Engine } from "../api/engine";
import type { EngineEvent } from "../api/events";
import { API_METHODS } from "../api/contract";
import { WhetstoneError } from "../util/errors";
import { PROJECT_ROOT } from "../paths";
import { saveUploadedDataset } from "../datasets-upload/upload";
import { allowedHost, allowedOrigin, checkToken } from "./guards";
import { BodyTooLarge, readJsonBody } from "./body";
import { checkApiArguments } from "./arguments";
import { sendError, sendFailure, sendJson } from "./reply";
import { serveStatic } from "./static";

export interface ServeOptions {
  port?: number;
  host?: string;
  token?: string;
  /** Folder with the built renderer; served at /. */
  staticDir?: string;
}

export interface RunningServer {
  url: string;
  token: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function serve(engine: Engine, opts: ServeOptions = {}): Promise<RunningServer> {
  const token = opts.token ?? randomBytes(24).toString("hex");
  const host = opts.host ?? "127.0.0.1";
  const staticDir = opts.staticDir ?? join(PROJECT_ROOT, "renderer", "dist");
  const clients = new Set<ServerResponse>();
  let port = 0;

  const onEvent = (event: EngineEvent) => {
    const frame = `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    for (const res of clients) res.write(frame);
  };
  const unsubscribe = engine.subscribe(onEvent);
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(": keep-alive\n\n");
  }, 15_000);
  heartbeat.unref();

  const server = createServer((req, res) => {
    void handle(req, res).catch((e) => {
      // A body too large to wait for, or an upload that failed midway: the rest of the request is
      // not read, so the connection closes after the answer.
      const unread = (e instanceof BodyTooLarge && !e.drained) || !req.complete;
      sendError(res, e, unread ? { connection: "close" } : {});
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHost(req.headers.host, port)) {
      return sendFailure(res, { code: "FORBIDDEN_HOST", message: `Host '${String(req.headers.host ?? "").slice(0, 100)}' is not this engine's address.`, hint: "Open the URL the engine printed (http://127.0.0.1:PORT/…)." });
    }
    if (!allowedOrigin(req.headers.origin, port)) {
      return sendFailure(res, { code: "FORBIDDEN_ORIGIN", message: `Requests from the page at '${String(req.headers.origin).slice(0, 100)}' are refused: only the app's own page may call the engine.`, hint: "Open the URL the engine printed, or call the API from a script (which sends no Origin)." });
    }
    let url: URL;
    try {
      url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    } catch {
      throw new WhetstoneError({ code: "API_BAD_URL", message: `'${String(req.url).slice(0, 200)}' is not a valid URL path.`, hint: "Open the URL the engine printed." });
    }
    if (!url.pathname.startsWith("/api/")) {
      if (req.method !== "GET" && req.method !== "HEAD") return sendFailure(res, { code: "METHOD_NOT_ALLOWED", message: `${req.method} ${url.pathname.slice(0, 200)}: the app's pages are only read (GET).`, hint: "API calls are POST /api/<method>." });
      return serveStatic(res, staticDir, url.pathname);
    }
    const isEventStream = req.method === "GET" && url.pathname === "/api/events";
    const refusal = checkToken(req, url, token, isEventStream);
    if (refusal) return sendFailure(res, refusal);
    if (isEventStream) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-content-type-options": "nosniff" });
      res.write(`event: hello\ndata: ${JSON.stringify({ type: "hello", methods: API_METHODS })}\n\n`);
      clients.add(res);
      req.on("close", () => clients.delete(res));
      return;
    }
    if (req.method === "GET" && url.pathname === "/api/contract") return sendJson(res, 200, { ok: true, result: { methods: API_METHODS } });
    if (req.method === "POST" && url.pathname === "/api/uploadDataset") {
      const result = await saveUploadedDataset(engine.store.home, url.searchParams.get("name") ?? "", req);
      return sendJson(res, 200, { ok: true, result });
    }
    if (req.method !== "POST") {
      return sendFailure(res, { code: "METHOD_NOT_ALLOWED", message: `${req.method} ${url.pathname.slice(0, 200)} is not an API call.`, hint: "API calls are POST /api/<method> with a JSON body." });
    }
    const method = url.pathname.slice("/api/".length);
    const payload = await readJsonBody(req);
    checkApiArguments(method, payload, { home: engine.store.home });
    const result = await engine.dispatch(method, payload);
    sendJson(res, 200, { ok: true, result });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    token,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        clearInterval(heartbeat);
        for (const res of clients) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
