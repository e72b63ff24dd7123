/**
 * The loopback HTTP server: the engine's API for a browser (and for tests), the same contract the
 * Electron bridge exposes over IPC.
 *
 *   POST /api/<method>        JSON body = the method's input; 200 {ok:true,result} or 4xx/5xx {ok:false,error}
 *   GET  /api/events          server-sent events: every EngineEvent as `data: {json}`
 *   GET  /api/contract        the method names (for clients to check they match)
 *   POST /api/uploadDataset?name=F  raw file bytes (a browser's dropped File has no path): stored
 *                             under <home>/datasets/, answers {path, bytes, sha256} to inspect
 *   GET  /*                   the built renderer (renderer/dist), when there is one
 *
 * Guarded by a per-launch token (Authorization: Bearer, or ?token= for EventSource, which cannot
 * set headers) and by a Host check, so a web page in the user's browser cannot reach it through
 * DNS rebinding. It binds to 127.0.0.1 only unless told otherwise.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import type { AddressInfo } from "node:net";
import type { Engine } from "../api/engine";
import type { EngineEvent } from "../api/events";
import { API_METHODS } from "../api/contract";
import { WhetstoneError } from "../util/errors";
import { PROJECT_ROOT } from "../paths";
import { saveUploadedDataset } from "../datasets-upload/upload";

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

const MAX_BODY = 4 * 1024 * 1024;
const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".woff2": "font/woff2",
};

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
  engine.events.on("event", onEvent);
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(": keep-alive\n\n");
  }, 15_000);
  heartbeat.unref();

  const server = createServer((req, res) => {
    void handle(req, res).catch((e) => sendError(res, e));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
    if (!allowedHost(req.headers.host, port)) {
      return sendJson(res, 403, { ok: false, error: { code: "FORBIDDEN_HOST", message: "Host not allowed.", hint: "Use the URL printed by `whetstone serve`." } });
    }
    if (!url.pathname.startsWith("/api/")) return serveStatic(res, staticDir, url.pathname);
    if (!authorized(req, url, token)) {
      return sendJson(res, 401, { ok: false, error: { code: "UNAUTHORIZED", message: "Missing or wrong token.", hint: "Send `Authorization: Bearer <token>` with the token `whetstone serve` printed." } });
    }
    if (req.method === "GET" && url.pathname === "/api/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
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
    if (req.method !== "POST") return sendJson(res, 405, { ok: false, error: { code: "METHOD_NOT_ALLOWED", message: `${req.method} ${url.pathname}`, hint: "API calls are POST /api/<method> with a JSON body." } });
    const method = url.pathname.slice("/api/".length);
    const body = await readBody(req);
    let payload: unknown = {};
    if (body.length > 0) {
      try {
        payload = JSON.parse(body);
      } catch {
        throw new WhetstoneError({ code: "API_BAD_JSON", message: "The request body is not JSON.", hint: "Send a JSON object." });
      }
    }
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
        engine.events.off("event", onEvent);
        clearInterval(heartbeat);
        for (const res of clients) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function allowedHost(hostHeader: string | undefined, port: number): boolean {
  if (!hostHeader) return false;
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  return allowed.includes(hostHeader.toLowerCase());
}

function authorized(req: IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization;
  const given = header?.startsWith("Bearer ") ? header.slice(7) : url.searchParams.get("token");
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new WhetstoneError({ code: "API_TOO_LARGE", message: `Request body over ${MAX_BODY} bytes.`, hint: "Send file paths, not file contents." }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, e: unknown): void {
  if (e instanceof WhetstoneError) {
    const status = /NOT_FOUND$/.test(e.code) ? 404 : e.code.startsWith("API_") || e.code.startsWith("CONFIG") || e.code.startsWith("DATA") || e.code.startsWith("RUN_") || e.code.startsWith("MODEL") ? 400 : 500;
    return sendJson(res, status, { ok: false, error: e.toJSON() });
  }
  sendJson(res, 500, { ok: false, error: { code: "INTERNAL", message: String((e as Error)?.message ?? e), hint: "This is a bug in Whetstone; the server's output has the stack." } });
  console.error(e);
}

function serveStatic(res: ServerResponse, root: string, pathname: string): void {
  const rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, "");
  let file = join(root, rel);
  if (!file.startsWith(root + sep) && file !== root) return sendJson(res, 403, { ok: false });
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, "index.html");
  if (!existsSync(file)) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("The UI is not built. Run `npm start` (it builds the renderer), or use the API under /api/.");
    return;
  }
  res.writeHead(200, {
    "content-type": MIME[extname(file)] ?? "application/octet-stream",
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
    "x-content-type-options": "nosniff",
  });
  res.end(readFileSync(file));
}
