/**
 * The app:// protocol: the built renderer, served from one folder under the page's
 * Content-Security-Policy. A request URL is parsed and decoded strictly: a malformed one (a cut-off
 * percent-escape, a NUL byte) is a 400, another host a 404, a path that would leave the folder a
 * 403 — answers, never exceptions, so a hostile or broken URL cannot take the handler down.
 */
import { normalize, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { CONTENT_SECURITY_POLICY } from "./window";

export const APP_HOST = "whetstone";

export type AppTarget = { file: string } | { status: number; reason: string };

/** The file under `root` that an app:// URL names, or why there is none. */
export function appTarget(requestUrl: string, root: string): AppTarget {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return { status: 400, reason: "malformed URL" };
  }
  if (url.protocol !== "app:" || url.host !== APP_HOST) return { status: 404, reason: "not the app's host" };
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return { status: 400, reason: "malformed percent-escape in the path" };
  }
  if (path.includes("\0")) return { status: 400, reason: "NUL byte in the path" };
  const rel = normalize(path).replace(/^([/\\])+/, "") || "index.html";
  const file = resolve(root, rel);
  if (!file.startsWith(root + sep)) return { status: 403, reason: "outside the app's folder" };
  return { file };
}

const HEADERS = { "content-security-policy": CONTENT_SECURITY_POLICY, "x-content-type-options": "nosniff" };

/** The protocol handler's answer; `fetchFile` is Electron's net.fetch on a file:// URL. */
export async function appResponse(requestUrl: string, root: string, fetchFile: (fileUrl: string) => Promise<Response>): Promise<Response> {
  const target = appTarget(requestUrl, root);
  if ("status" in target) return new Response(target.reason, { status: target.status, headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8" } });
  let res: Response;
  try {
    res = await fetchFile(pathToFileURL(target.file).toString());
  } catch {
    return new Response("not found", { status: 404, headers: { ...HEADERS, "content-type": "text/plain; charset=utf-8" } });
  }
  const headers = new Headers(res.headers);
  for (const [k, v] of Object.entries(HEADERS)) headers.set(k, v);
  return new Response(res.body, { status: res.status, headers });
}
