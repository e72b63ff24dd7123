/**
 * Who may talk to the loopback server. A web page in the user's browser can send requests to
 * 127.0.0.1 but cannot read the token, so every API request must carry it; on top of that:
 *
 * - Host must name the loopback address and this port (DNS rebinding: a page on evil.example that
 *   re-resolves to 127.0.0.1 still sends `Host: evil.example`);
 * - Origin, when the browser sends one, must be the app's own page on this port (a page elsewhere
 *   that somehow holds the token is still refused, and `Origin: null` — sandboxed frames, files —
 *   too); tools such as curl send none;
 * - the token travels in `Authorization: Bearer`, and in the URL (`?token=`) only for the event
 *   stream, because EventSource cannot set headers. URLs end up in logs, histories and Referer
 *   headers, so a token there is never accepted for a call that changes anything.
 *
 * Tokens are compared through their SHA-256 digests with timingSafeEqual: constant time whatever
 * the length of what was sent.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { WhetstoneErrorInfo } from "../util/errors";

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

export function allowedHost(hostHeader: string | undefined, port: number): boolean {
  if (!hostHeader) return false;
  return LOOPBACK_NAMES.map((h) => `${h}:${port}`).includes(hostHeader.toLowerCase());
}

export function allowedOrigin(originHeader: string | undefined, port: number): boolean {
  if (originHeader === undefined) return true;
  return LOOPBACK_NAMES.map((h) => `http://${h}:${port}`).includes(originHeader.toLowerCase());
}

function sameToken(given: string, token: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** null when the request may proceed, else the refusal (401). `queryTokenAllowed`: the event stream only. */
export function checkToken(req: IncomingMessage, url: URL, token: string, queryTokenAllowed: boolean): WhetstoneErrorInfo | null {
  const header = req.headers.authorization;
  const fromQuery = url.searchParams.get("token");
  if (header !== undefined) {
    if (header.startsWith("Bearer ") && sameToken(header.slice(7), token)) return null;
    return { code: "UNAUTHORIZED", message: "Wrong token.", hint: "Send `Authorization: Bearer <token>` with the token the engine printed when it started (it changes at every start)." };
  }
  if (fromQuery !== null) {
    if (!queryTokenAllowed) {
      return {
        code: "API_TOKEN_IN_URL",
        message: `The token is accepted in the URL only for the event stream (GET /api/events), not for ${req.method} ${url.pathname}.`,
        hint: "Send it in the `Authorization: Bearer <token>` header: URLs end up in logs and browser history.",
      };
    }
    if (sameToken(fromQuery, token)) return null;
    return { code: "UNAUTHORIZED", message: "Wrong token.", hint: "Use the URL the engine printed when it started (the token changes at every start)." };
  }
  return { code: "UNAUTHORIZED", message: "Missing token.", hint: "Send `Authorization: Bearer <token>` with the token the engine printed when it started." };
}
