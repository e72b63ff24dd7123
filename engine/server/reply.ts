/**
 * How the server answers: JSON bodies with security headers, and WhetstoneErrors turned into
 * their status (status.ts). Anything that is not a WhetstoneError is a bug: 500 INTERNAL, with the
 * stack on the server's stderr and never in the response.
 */
import type { ServerResponse } from "node:http";
import { WhetstoneError, type WhetstoneErrorInfo } from "../util/errors";
import { isMappedCode, statusFor } from "./status";

/** Headers on every API answer: never cached, never sniffed, never framed. */
export const API_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  res.writeHead(status, { ...API_HEADERS, ...extra });
  res.end(JSON.stringify(body));
}

/** An error answer for one of the codes of status.ts. */
export function sendFailure(res: ServerResponse, info: WhetstoneErrorInfo, extra: Record<string, string> = {}): void {
  sendJson(res, statusFor(info.code), { ok: false, error: info }, extra);
}

export function sendError(res: ServerResponse, e: unknown, extra: Record<string, string> = {}): void {
  if (e instanceof WhetstoneError) {
    if (!isMappedCode(e.code)) console.error(`whetstone serve: error code ${e.code} has no HTTP status in engine/server/status.ts (answered 500)`);
    return sendFailure(res, e.toJSON(), extra);
  }
  console.error(e);
  sendFailure(res, { code: "INTERNAL", message: `The engine failed unexpectedly: ${String((e as Error)?.message ?? e)}`, hint: "This is a bug in Whetstone; the server's output has the stack. Please report it." }, extra);
}
