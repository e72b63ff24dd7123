/** electron/app-protocol.ts: the app:// handler answers malformed and hostile URLs with a status, never a throw, and never leaves its folder. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { appResponse, appTarget } from "../../electron/app-protocol";
import { CONTENT_SECURITY_POLICY } from "../../electron/window";

const root = mkdtempSync(join(tmpdir(), "whetstone-app-"));
mkdirSync(join(root, "assets"));
writeFileSync(join(root, "index.html"), "<!doctype html><title>Whetstone</title>");
writeFileSync(join(root, "assets", "app.js"), "console.log(1)");
const outside = join(root, "..", `secret-${process.pid}.txt`);
writeFileSync(outside, "secret");

/** Electron's net.fetch on file:// URLs, as far as the handler uses it: the file's bytes, or a throw. */
const fetchFile = async (fileUrl: string) => new Response(readFileSync(fileURLToPath(fileUrl)), { status: 200, headers: { "content-type": "text/html" } });

describe("app:// protocol", () => {
  it("serves the app's files, index.html at the root, under the CSP", async () => {
    expect(appTarget("app://whetstone/", root)).toEqual({ file: join(root, "index.html") });
    expect(appTarget("app://whetstone/assets/app.js", root)).toEqual({ file: join(root, "assets", "app.js") });
    const res = await appResponse("app://whetstone/index.html", root, fetchFile);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("<title>Whetstone</title>");
    expect(res.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("answers a malformed URL with 400 instead of throwing", async () => {
    for (const url of ["app://whetstone/%E0%A4%A", "app://whetstone/%", "app://whetstone/a%00b", "not a url"]) {
      const res = await appResponse(url, root, fetchFile);
      expect(res.status, url).toBe(400);
    }
  });

  it("cannot be walked out of its folder, encoded or not", async () => {
    for (const url of [`app://whetstone/..%2f${outside.split("/").pop()}`, "app://whetstone/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "app://whetstone/..%5c..%5cwindows", `app://whetstone/${encodeURIComponent(outside)}`]) {
      const target = appTarget(url, root);
      if ("file" in target) expect(target.file.startsWith(root + "/"), url).toBe(true);
      const res = await appResponse(url, root, fetchFile);
      expect(await res.text(), url).not.toBe("secret");
    }
    // '..' above the root is clamped to the root: the name is looked up inside the folder, where it is not.
    const name = outside.split("/").pop()!;
    expect(appTarget(`app://whetstone/..%2f${name}`, root)).toEqual({ file: join(root, name) });
    expect((await appResponse(`app://whetstone/..%2f${name}`, root, fetchFile)).status).toBe(404);
  });

  it("serves only its own host, and a missing file is a 404", async () => {
    expect((await appResponse("app://other/index.html", root, fetchFile)).status).toBe(404);
    expect((await appResponse("app://whetstone/missing.js", root, fetchFile)).status).toBe(404);
  });
});
