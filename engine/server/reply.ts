/**
 * How the server answers: JSON bodies with security headers, and WhetstoneErrors turned into
 * their status (status.ts). A file-system error that escaped the engine (a file vanished, a link
 * is broken, permission denied, the disk is full) is still about a path on this machine, not a
 * bug in the request handling: it is answered as the matching 4xx naming the path, and logged.
 * Anything else is a bug: 500 INTERNAL, with the stack on the server's stderr, never in the response.
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

const ERRNO: Record<string, { code: string; what: string; hint: string }> = {
  ENOENT: { code: "API_PATH_NOT_FOUND", what: "does not exist (or is a link to something that no longer does)", hint: "Check the path; inside a dataset folder, remove or fix the broken link." },
  ENOTDIR: { code: "API_PATH_NOT_FOUND", what: "does not exist (a part of the path is a file)", hint: "Check the path." },
  EACCES: { code: "API_BAD_PATH", what: "cannot be read or written: permission denied", hint: "Choose a file or folder your user may use, or change its permissions." },
  EPERM: { code: "API_BAD_PATH", what: "cannot be read or written: operation not permitted", hint: "Choose a file or folder your user may use, or change its permissions." },
  EISDIR: { code: "API_BAD_PATH", what: "is a folder where a file was expected", hint: "Choose a file inside it." },
  ELOOP: { code: "API_BAD_PATH", what: "is a link that points back at itself", hint: "Fix or remove the link." },
  ENAMETOOLONG: { code: "API_BAD_PATH", what: "is a path too long for this system", hint: "Use a shorter path." },
  ENOSPC: { code: "DISK_FULL", what: "could not be written: the disk is full", hint: "Free some space on that disk, then try again." },
  EDQUOT: { code: "DISK_FULL", what: "could not be written: the disk quota is used up", hint: "Free some space within your quota, then try again." },
};

/** A Node file-system error as the API error it stands for, or null when it is not one. */
export function systemErrorInfo(e: unknown): WhetstoneErrorInfo | null {
  const err = e as NodeJS.ErrnoException | null;
  const known = typeof err?.code === "string" ? ERRNO[err.code] : undefined;
  if (!known || typeof err?.path !== "string") return null;
  return { code: known.code, message: `${err.path} ${known.what} (${err.code}).`, hint: known.hint, where: err.path };
}

export function sendError(res: ServerResponse, e: unknown, extra: Record<string, string> = {}): void {
  if (e instanceof WhetstoneError) {
    if (!isMappedCode(e.code)) console.error(`whetstone serve: error code ${e.code} has no HTTP status in engine/server/status.ts (answered 500)`);
    return sendFailure(res, e.toJSON(), extra);
  }
  const system = systemErrorInfo(e);
  if (system) {
    console.error(`whetstone serve: ${system.message} (a file-system error the engine did not catch):`, e);
    return sendFailure(res, system, extra);
  }
  console.error(e);
  sendFailure(res, { code: "INTERNAL", message: `The engine failed unexpectedly: ${String((e as Error)?.message ?? e)}`, hint: "This is a bug in Whetstone; the server's output has the stack. Please report it." }, extra);
}
