/**
 * The loopback API under hostile and clumsy requests (issue 23): run ids that walk out of the runs
 * folder, system folders as datasets, exports over the home folder, oversized and malformed bodies,
 * the token in a POST's URL, a foreign Origin, malformed URLs. Each answer is a 4xx with the code
 * and a message naming what was wrong; nothing outside the data folder is read or changed, and the
 * server keeps answering afterwards.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { homedir, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../engine/api/engine";
import { serve, type RunningServer } from "../../engine/server/http";
import { tempHome } from "../helpers/fixture";

let engine: Engine;
let server: RunningServer;
let base: string;
let work: string;
/** Another data folder's run, which the served engine must never read or touch. */
let otherStatus: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

const auth = () => ({ authorization: `Bearer ${server.token}` });
const call = (method: string, payload: unknown, headers: Record<string, string> = {}) =>
  raw(`/api/${method}`, { method: "POST", headers: { ...auth(), "content-type": "application/json", ...headers }, body: JSON.stringify(payload) });

function error(a: Answer): { code: string; message: string; hint: string } {
  const parsed = JSON.parse(a.body) as { ok: boolean; error: { code: string; message: string; hint: string } };
  expect(parsed.ok).toBe(false);
  return parsed.error;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "whetstone-faults-api-"));
  const home = join(work, "home-a");
  mkdirSync(home);
  engine = new Engine({ home });
  server = await serve(engine, { staticDir: mkdtempSync(join(tmpdir(), "ui-")) });
  base = `http://127.0.0.1:${server.port}`;
  // Another home's run, reachable from home-a's runs folder as ../../home-b/runs/victim.
  const victim = join(tempHome(), "runs", "victim");
  mkdirSync(victim, { recursive: true });
  otherStatus = join(victim, "status.json");
  writeFileSync(otherStatus, JSON.stringify({ id: "victim", name: "secret-run", state: "failed" }));
});

afterAll(async () => {
  await server.close();
  await engine.close();
});

describe("run references are ids or names, never paths", () => {
  const traversal = () => relative(join(engine.store.home, "runs"), dirname(otherStatus));

  it("getRun with ../../ is refused with 400 and reads nothing outside the runs folder", async () => {
    const id = traversal();
    expect(id.startsWith("../")).toBe(true);
    const a = await call("getRun", { id });
    expect(a.status).toBe(400);
    const e = error(a);
    expect(e.code).toBe("RUN_ID_INVALID");
    expect(e.message).toContain(`getRun: id: '${id}' is not a run id or name`);
    expect(a.body).not.toContain("secret-run");
  });

  it("resume, cancel and export by path are refused before anything is touched", async () => {
    const before = readFileSync(otherStatus, "utf8");
    const mtime = statSync(otherStatus).mtimeMs;
    for (const [method, extra] of [["resumeRun", {}], ["cancelRun", {}], ["exportRun", { format: "adapter", out: join(work, "x") }], ["getLog", {}]] as const) {
      const a = await call(method, { id: traversal(), ...extra });
      expect(a.status, method).toBe(400);
      expect(error(a).code).toBe("RUN_ID_INVALID");
    }
    const abs = await call("getRun", { id: dirname(otherStatus) });
    expect(abs.status).toBe(400);
    expect(error(abs).message).toContain("never by a path");
    const many = await call("compareRuns", { ids: ["a-run", "..\\..\\victim"] });
    expect(many.status).toBe(400);
    expect(error(many).message).toContain("compareRuns: ids[1]");
    expect(readFileSync(otherStatus, "utf8")).toBe(before);
    expect(statSync(otherStatus).mtimeMs).toBe(mtime);
  });

  it("a well-formed id that does not exist is a 404 naming the runs folder", async () => {
    const a = await call("getRun", { id: "20991231-000000-nothing-0000" });
    expect(a.status).toBe(404);
    const e = error(a);
    expect(e.code).toBe("RUN_NOT_FOUND");
    expect(e.message).toContain("No run '20991231-000000-nothing-0000'");
  });
});

describe("file and folder arguments", () => {
  it("/etc as a dataset folder is a 403 naming the field", async () => {
    const a = await call("inspectDataset", { path: "/etc" });
    expect(a.status).toBe(403);
    const e = error(a);
    expect(e.code).toBe("API_SYSTEM_PATH");
    expect(e.message).toBe("inspectDataset: path: /etc is one of the operating system's folders, not a file or folder of yours.");
    expect(e.hint).toMatch(/your own folders/);
  });

  it("a link to /etc, /dev/zero and /proc are refused the same way", async () => {
    const link = join(work, "innocent-data");
    symlinkSync("/etc", link);
    const viaLink = await call("inspectDataset", { path: link });
    expect(viaLink.status).toBe(403);
    expect(error(viaLink).message).toBe(`inspectDataset: path: ${link} leads to /etc, one of the operating system's folders.`);
    for (const path of ["/dev/zero", "/proc/self/environ"]) {
      const a = await call("previewDataset", { path, model: work });
      expect(a.status, path).toBe(403);
      expect(error(a).code).toBe("API_SYSTEM_PATH");
    }
  });

  it("a broken link is a 404, a pipe a 400, a relative path a 400", async () => {
    const broken = join(work, "broken.jsonl");
    symlinkSync(join(work, "gone.jsonl"), broken);
    const a = await call("inspectDataset", { path: broken });
    expect(a.status).toBe(404);
    expect(error(a)).toMatchObject({ code: "API_PATH_NOT_FOUND", message: `inspectDataset: path: ${broken} does not exist (or is a link to something that no longer does).` });

    const fifo = join(work, "pipe.jsonl");
    execFileSync("mkfifo", [fifo]);
    const p = await call("inspectDataset", { path: fifo });
    expect(p.status).toBe(400);
    expect(error(p)).toMatchObject({ code: "API_BAD_PATH", message: `inspectDataset: path: ${fifo} is a device, pipe or socket, not a file or folder.` });

    const rel = await call("inspectDataset", { path: "data/train.jsonl" });
    expect(rel.status).toBe(400);
    expect(error(rel).message).toContain("'data/train.jsonl' is not a full path");
  });

  it("a dataset folder holding a broken link is never a 500: read without it, or a 404 naming the link", async () => {
    const folder = join(work, "dataset-with-broken-link");
    mkdirSync(folder);
    writeFileSync(join(folder, "a.jsonl"), '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n');
    symlinkSync(join(folder, "deleted.jsonl"), join(folder, "b.jsonl"));
    const a = await call("inspectDataset", { path: folder });
    expect(a.status).toBeLessThan(500);
    if (a.status !== 200) expect(error(a)).toMatchObject({ code: "API_PATH_NOT_FOUND", message: expect.stringContaining(join(folder, "b.jsonl")) });
  });

  it("a config's data.train under /etc is refused before a run folder is made", async () => {
    const a = await call("createRun", { config: { model: { path: work }, data: { train: "/etc/passwd" } } });
    expect(a.status).toBe(403);
    expect(error(a).message).toContain("createRun: config.data.train: /etc/passwd is one of the operating system's folders");
    expect(engine.listRuns()).toEqual([]);
  });

  it("a hub revision that is a path is refused before the hub client sees it", async () => {
    const a = await call("pullModel", { id: "Qwen/Qwen2.5-0.5B", revision: "../../../../tmp/x" });
    expect(a.status).toBe(400);
    expect(error(a)).toMatchObject({ code: "API_BAD_REQUEST", message: "pullModel: revision: '../../../../tmp/x' is not a branch, tag or commit." });
  });

  it("an export over the home folder, the data folder or a disk root is refused", async () => {
    for (const out of [homedir(), dirname(engine.store.home), engine.store.home, "/"]) {
      const a = await call("exportRun", { id: "any-run", format: "adapter", out, overwrite: true });
      expect(a.status, out).toBe(400);
      const e = error(a);
      expect(e.code).toBe("API_BAD_PATH");
      expect(e.message).toMatch(/^exportRun: out: /);
    }
  });
});

describe("malformed and oversized requests", () => {
  it("a 5 MB JSON body gets 413 API_TOO_LARGE, not a reset (node http)", async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 0x20);
    body.write('{"id": "x"', 0);
    const a = await raw("/api/getRun", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body });
    expect(a.status).toBe(413);
    const e = error(a);
    expect(e.code).toBe("API_TOO_LARGE");
    expect(e.message).toContain("over 4 MB");
    expect(e.hint).toContain("path");
  });

  it("a 5 MB JSON body gets 413 through fetch too", async () => {
    const res = await fetch(`${base}/api/getRun`, { method: "POST", headers: auth(), body: "x".repeat(5 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("API_TOO_LARGE");
  });

  it("malformed JSON is a 400 saying so", async () => {
    const a = await raw("/api/getRun", { method: "POST", headers: auth(), body: '{"id": "x",}' });
    expect(a.status).toBe(400);
    const e = error(a);
    expect(e.code).toBe("API_BAD_JSON");
    expect(e.message).toMatch(/^The request body is not valid JSON: /);
  });

  it("GET /%E0%A4%A (a cut-off UTF-8 escape) is a 400, and the server lives on", async () => {
    const a = await raw("/%E0%A4%A");
    expect(a.status).toBe(400);
    expect(error(a)).toMatchObject({ code: "API_BAD_URL", message: "The URL path '/%E0%A4%A' has a malformed percent-escape." });
    const nul = await raw("/index%00.html");
    expect(nul.status).toBe(400);
    expect((await call("health", {})).status).toBe(200);
  });

  it("static paths cannot climb out of the UI folder", async () => {
    const a = await raw("/..%2f..%2f..%2f..%2fetc%2fpasswd");
    expect(a.body).not.toContain("root:");
  });
});

describe("token, Origin and headers", () => {
  it("the token in a POST's URL is refused with 401 API_TOKEN_IN_URL", async () => {
    const a = await raw(`/api/health?token=${server.token}`, { method: "POST", body: "{}" });
    expect(a.status).toBe(401);
    const e = error(a);
    expect(e.code).toBe("API_TOKEN_IN_URL");
    expect(e.message).toBe("The token is accepted in the URL only for the event stream (GET /api/events), not for POST /api/health.");
    const upload = await raw(`/api/uploadDataset?name=a.jsonl&token=${server.token}`, { method: "POST", body: '{"text": "x"}\n' });
    expect(upload.status).toBe(401);
    expect(error(upload).code).toBe("API_TOKEN_IN_URL");
  });

  it("the event stream still takes the token in its URL", async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/api/events?token=${server.token}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    controller.abort();
    const wrong = await raw("/api/events?token=nope");
    expect(wrong.status).toBe(401);
    expect(error(wrong)).toMatchObject({ code: "UNAUTHORIZED", message: "Wrong token." });
  });

  it("a foreign Origin is refused even with the right token; the app's own origin and none pass", async () => {
    for (const origin of ["https://evil.example", "null", `http://127.0.0.1:${server.port + 1}`]) {
      const a = await call("health", {}, { origin });
      expect(a.status, origin).toBe(403);
      const e = error(a);
      expect(e.code).toBe("FORBIDDEN_ORIGIN");
      expect(e.message).toContain(`'${origin}'`);
    }
    expect((await call("health", {}, { origin: `http://127.0.0.1:${server.port}` })).status).toBe(200);
    expect((await call("health", {}, { origin: `http://localhost:${server.port}` })).status).toBe(200);
    expect((await call("health", {})).status).toBe(200);
  });

  it("the browser-mode page gets a CSP with object-src, base-uri and frame-ancestors 'none'", async () => {
    const a = await raw("/");
    const csp = String(a.headers["content-security-policy"]);
    for (const d of ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'"]) expect(csp).toContain(d);
    expect(a.headers["x-frame-options"]).toBe("DENY");
  });
});
