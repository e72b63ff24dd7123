/** Dataset bytes from a browser: stored under <home>/datasets only, atomically, by content. */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { saveUploadedDataset, safeUploadName } from "../../../engine/datasets-upload/upload";
import { Engine } from "../../../engine/api/engine";
import { serve } from "../../../engine/server/http";
import { TINY_DATA } from "../../helpers/fixture";

const home = () => mkdtempSync(join(tmpdir(), "whetstone-upload-"));

describe("saveUploadedDataset", () => {
  it("stores the bytes under datasets/ named by content, once", async () => {
    const h = home();
    const bytes = readFileSync(TINY_DATA);
    const a = await saveUploadedDataset(h, "my data.jsonl", Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]));
    const b = await saveUploadedDataset(h, "my data.jsonl", Readable.from([bytes]));
    expect(a.path).toBe(b.path);
    expect(a.path.startsWith(join(h, "datasets"))).toBe(true);
    expect(a.path).toMatch(/[0-9a-f]{12}-my_data\.jsonl$/);
    expect(readFileSync(a.path).equals(bytes)).toBe(true);
    expect(readdirSync(join(h, "datasets"))).toEqual([a.path.split("/").pop()]);
    expect(readdirSync(h)).toEqual(["datasets"]);
  });

  it("refuses names without a dataset extension, path tricks, empty and oversized bodies, leaving nothing behind", async () => {
    expect(() => safeUploadName("notes.txt")).toThrow(/not a dataset file/);
    expect(safeUploadName("../../etc/passwd.jsonl")).toBe("passwd.jsonl");
    expect(safeUploadName("..\\..\\x.csv")).toBe("x.csv");
    expect(safeUploadName("train-00000-of-00002.jsonl.gz")).toBe("train-00000-of-00002.jsonl.gz");
    expect(safeUploadName("My Data.csv.zst")).toBe("My_Data.csv.zst");
    expect(() => safeUploadName("notes.txt.gz")).toThrow(/not a dataset file/);
    expect(() => safeUploadName("table.parquet.gz")).toThrow(/not a dataset file/);
    const h = home();
    await expect(saveUploadedDataset(h, "e.jsonl", Readable.from([]))).rejects.toMatchObject({ code: "DATA_EMPTY_FILE" });
    await expect(saveUploadedDataset(h, "big.jsonl", Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), 1000)).rejects.toMatchObject({ code: "DATA_UPLOAD_TOO_LARGE" });
    expect(readdirSync(join(h, "datasets"))).toEqual([]);
  });
});

describe("POST /api/uploadDataset", () => {
  const engine = new Engine({ home: home() });
  afterAll(() => engine.close());

  it("takes the raw body with the token, and the stored file inspects", async () => {
    const server = await serve(engine, { staticDir: home() });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const body = readFileSync(TINY_DATA);
      const denied = await fetch(`${base}/api/uploadDataset?name=a.jsonl`, { method: "POST", body });
      expect(denied.status).toBe(401);
      const res = await fetch(`${base}/api/uploadDataset?name=tiny.jsonl`, { method: "POST", body, headers: { authorization: `Bearer ${server.token}` } });
      const json = (await res.json()) as { ok: boolean; result: { path: string; bytes: number } };
      expect(json.ok).toBe(true);
      expect(json.result.bytes).toBe(body.length);
      const report = await engine.inspectDataset({ path: json.result.path });
      expect(report.trainable).toBe(true);
      expect(report.stats.samples).toBe(111);
      const bad = await fetch(`${base}/api/uploadDataset?name=x.exe`, { method: "POST", body, headers: { authorization: `Bearer ${server.token}` } });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("DATA_UNSUPPORTED_FORMAT");
    } finally {
      await server.close();
    }
  });
});
