/**
 * The built renderer (renderer/dist) for browser mode. Paths are decoded once, strictly (a
 * malformed escape such as `%E0%A4%A` is a 400, not an exception), and must stay inside the folder
 * after links are followed; unknown paths get index.html (the UI routes on the client).
 */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { WhetstoneError } from "../util/errors";
import { CONTENT_SECURITY_POLICY } from "./csp";
import { sendFailure } from "./reply";

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".woff2": "font/woff2",
};

export const PAGE_HEADERS = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
} as const;

/** A URL path percent-decoded, or a 400 naming what is wrong with it. */
export function decodePath(pathname: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    throw new WhetstoneError({ code: "API_BAD_URL", message: `The URL path '${pathname.slice(0, 200)}' has a malformed percent-escape.`, hint: "Encode the path as UTF-8 percent-escapes (%XX for each byte), or open the URL the engine printed." });
  }
  if (decoded.includes("\0")) throw new WhetstoneError({ code: "API_BAD_URL", message: "The URL path contains a NUL byte.", hint: "Open the URL the engine printed." });
  return decoded;
}

/** The file under `root` that `pathname` names, or null when it would leave `root`. */
export function staticFile(root: string, pathname: string): string | null {
  const rel = normalize(decodePath(pathname)).replace(/^([/\\])+/, "");
  const file = join(root, rel);
  if (file !== root && !file.startsWith(root + sep)) return null;
  if (!existsSync(file) || statSync(file).isDirectory()) return join(root, "index.html");
  const real = realpathSync(file);
  const realRoot = realpathSync(root);
  return real === realRoot || real.startsWith(realRoot + sep) ? real : null;
}

export function serveStatic(res: ServerResponse, root: string, pathname: string): void {
  const file = staticFile(root, pathname);
  if (file === null) return sendFailure(res, { code: "API_NOT_FOUND", message: `${pathname.slice(0, 200)} is outside the app.`, hint: "Open the URL the engine printed." });
  if (!existsSync(file)) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8", ...PAGE_HEADERS });
    res.end("The UI is not built. Run `npm start` (it builds the renderer), or use the API under /api/.");
    return;
  }
  res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache", ...PAGE_HEADERS });
  res.end(readFileSync(file));
}
