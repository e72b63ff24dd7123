import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../../engine/api/engine";
import { serve, type RunningServer } from "../../../engine/server/http";
import { createClient, httpTransport, EngineApiError } from "../../../renderer/src/client/engine-client";
import { tempHome } from "../../helpers/fixture";

let engine: Engine;
let server: RunningServer;
let base: string;
let dir: string;

beforeAll(async () => {
  engine = new Engine({ home: tempHome() });
  server = await serve(engine, { staticDir: mkdtempSync(join(tmpdir(), "ui-")) });
  base = `http://127.0.0.1:${server.port}`;
  dir = mkdtempSync(join(tmpdir(), "whetstone-http-"));
  mkdirSync(join(dir, "model"));
  writeFileSync(join(dir, "model", "config.json"), "{}");
  writeFileSync(join(dir, "bad.jsonl"), '{"messages": [{"role": "user", "content": "hi"}]}\n');
});

afterAll(async () => {
  await server.close();
});

function raw(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("loopback server", () => {
  it("prints a loopback URL carrying the token", () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token).toMatch(/^[0-9a-f]{48}$/);
  });

  it("refuses calls without the token, or with a wrong one", async () => {
    expect((await raw("/api/health", { method: "POST" })).status).toBe(401);
    expect((await raw("/api/health", { method: "POST", headers: { authorization: "Bearer nope" } })).status).toBe(401);
  });

  it("refuses a foreign Host header (DNS rebinding)", async () => {
    const r = await raw("/api/health", { method: "POST", headers: { authorization: `Bearer ${server.token}`, host: "evil.example:80" } });
    expect(r.status).toBe(403);
  });

  it("serves the API through the same typed client the UI uses", async () => {
    const client = createClient(httpTransport(base, server.token));
    const health = await client.health({});
    expect(health.protocol).toBe(1);
    expect(health.home).toBe(engine.store.home);
    expect(await client.listRuns({})).toEqual([]);
  });

  it("validates payloads against the contract and returns structured errors", async () => {
    const client = createClient(httpTransport(base, server.token));
    await expect(client.getRun({ id: "" })).rejects.toMatchObject({ code: "API_BAD_REQUEST" });
    await expect(client.getRun({ id: "missing" })).rejects.toBeInstanceOf(EngineApiError);
    const unknown = await raw("/api/dropTables", { method: "POST", headers: { authorization: `Bearer ${server.token}` }, body: "{}" });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe("API_UNKNOWN_METHOD");
    const badJson = await raw("/api/health", { method: "POST", headers: { authorization: `Bearer ${server.token}` }, body: "{" });
    expect(JSON.parse(badJson.body).error.code).toBe("API_BAD_JSON");
  });

  it("streams engine events over SSE (token in the query) and reports a config error by field", async () => {
    const received: string[] = [];
    const controller = new AbortController();
    const res = await fetch(`${base}/api/events?token=${server.token}`, { signal: controller.signal });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    const pump = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        received.push(decoder.decode(value));
      }
    })();

    const client = createClient(httpTransport(base, server.token));
    await expect(client.createRun({ config: { model: { path: join(dir, "model") }, data: { train: join(dir, "bad.jsonl") }, training: { lr: 1 } } })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringContaining("unknown key 'training.lr'"),
    });
    await expect(client.createRun({ config: { model: { path: join(dir, "model") }, data: { train: join(dir, "bad.jsonl") } } })).rejects.toMatchObject({
      code: "DATA_INVALID",
      message: expect.stringContaining("line 1: no non-empty assistant turn"),
    });
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    await pump;
    const text = received.join("");
    expect(text).toContain("event: hello");
    // Refused data never becomes a run: no `failed` run folder is left behind.
    expect(text).not.toMatch(/"state":"failed"/);
    expect(await client.listRuns({})).toHaveLength(0);
  });
});
