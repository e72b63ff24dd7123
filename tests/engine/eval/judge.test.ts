/**
 * The judge's mechanics with the tiny judge (the tiny fixture model exported to ONNX by the
 * project's export code): probabilities read from one forward pass equal PyTorch's, both orders
 * judged and combined, ties, the worker thread with progress, no network for a local judge; the
 * OpenAI-compatible judge against a loopback fake server; the default judge's download (resume,
 * checksum, cache, offline message) against a loopback hub.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureJudge, hashFile, isDownloaded, type JudgeSpec } from "../../../engine/judge/download";
import { OnnxJudge } from "../../../engine/judge/onnx-judge";
import { combine, judgeMessages } from "../../../engine/judge/prompt";
import { judgePairs, judgeThreads, resolveJudge } from "../../../engine/judge/run";
import type { Pair } from "../../../engine/judge/types";
import { ensureTinyModel } from "../../helpers/fixture";
import { ensureTinyJudge } from "./tiny-judge";
import { workerPythonOutput } from "../../helpers/python";

const PAIRS: Pair[] = [
  { instruction: "What is 2 plus 2?", model: "2 plus 2 is 4.", baseline: "I think it might be five, or maybe four." },
  { instruction: "Say hello.", model: "Hello!", baseline: "Hello!" },
];

const REFERENCE = `
import json, sys, torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
ids, verdicts = json.loads(sys.argv[2]), json.loads(sys.argv[3])
with torch.no_grad():
    probs = torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1)
print(json.dumps({k: sum(probs[i].item() for i in v) for k, v in verdicts.items()}))
`;

let judgeDir: string;
beforeAll(() => {
  judgeDir = ensureTinyJudge();
});

describe("local ONNX judge", () => {
  it("reads the verdict from one forward pass: the verdict tokens' probabilities equal PyTorch's", async () => {
    const judge = await OnnxJudge.load(judgeDir, join(judgeDir, "onnx", "model.onnx"));
    const messages = judgeMessages(PAIRS[0]!.instruction, PAIRS[0]!.model, PAIRS[0]!.baseline);
    const probs = await judge.judge(messages);
    const ids = judge.encode(messages);
    const ref = JSON.parse(await workerPythonOutput(["-c", REFERENCE, ensureTinyModel(), JSON.stringify(ids), JSON.stringify(judge.verdictIds)])) as Record<string, number>;
    const mass = ref["1"]! + ref["2"]! + ref.Tie!;
    expect(probs.mass).toBeCloseTo(mass, 6);
    expect(probs.first).toBeCloseTo(ref["1"]! / mass, 5);
    expect(probs.second).toBeCloseTo(ref["2"]! / mass, 5);
    expect(probs.tie).toBeCloseTo(ref.Tie! / mass, 5);
    expect(new Set([...judge.verdictIds["1"], ...judge.verdictIds["2"], ...judge.verdictIds.Tie]).size).toBe(judge.verdictIds["1"].length + judge.verdictIds["2"].length + judge.verdictIds.Tie.length);
    await judge.dispose();
  });

  it("judges both orders and combines them: swapping the pair swaps win and loss; identical answers tie exactly", async () => {
    const target = await resolveJudge({ judge: judgeDir }, mkdtempSync(join(tmpdir(), "whetstone-judge-")));
    const swapped = PAIRS.map((p) => ({ ...p, model: p.baseline, baseline: p.model }));
    const [a, same] = await judgePairs(target, PAIRS, { inProcess: true });
    const [b] = await judgePairs(target, swapped, { inProcess: true });
    expect(a!.orders.model_first).toEqual(b!.orders.baseline_first);
    expect(a!.win).toBeCloseTo(b!.loss, 12);
    expect(a!.preference + b!.preference).toBeCloseTo(1, 12);
    expect(a!.win + a!.loss + a!.tie).toBeCloseTo(1, 12);
    expect(same!.win).toBeCloseTo(same!.loss, 12);
    expect(same!.preference).toBeCloseTo(0.5, 12);
    // A tie is a verdict of its own, chosen when it is the most probable outcome.
    expect(combine({ first: 0.3, second: 0.2, tie: 0.5, mass: 1 }, { first: 0.2, second: 0.3, tie: 0.5, mass: 1 }).verdict).toBe("tie");
    expect(combine({ first: 0.7, second: 0.2, tie: 0.1, mass: 1 }, { first: 0.1, second: 0.6, tie: 0.3, mass: 1 })).toMatchObject({ verdict: "win", win: expect.closeTo(0.65, 12), loss: expect.closeTo(0.15, 12) });
  });

  it("runs on a worker thread with progress and ETA, with the same verdicts as in-process", async () => {
    const target = await resolveJudge({ judge: judgeDir }, tmpdir());
    const seen: { done: number; eta_s: number | null }[] = [];
    const threaded = await judgePairs(target, PAIRS, { onProgress: (p) => seen.push(p) });
    expect(threaded).toEqual(await judgePairs(target, PAIRS, { inProcess: true }));
    expect(seen.map((p) => p.done)).toEqual([1, 2]);
    expect(seen.at(-1)!.eta_s).toBe(0);
    const controller = new AbortController();
    const pending = judgePairs(target, PAIRS, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
  });

  it("keeps a finished judge thread, its judge loaded, for the next judging; a cancel stops it between pairs and keeps it too", async () => {
    const target = await resolveJudge({ judge: judgeDir }, tmpdir());
    const expected = await judgePairs(target, PAIRS, { inProcess: true });
    expect(await judgePairs(target, PAIRS)).toEqual(expected);
    const after = judgeThreads();
    expect(after.idle).toBeGreaterThan(0);
    expect(await judgePairs(target, PAIRS)).toEqual(expected); // the same verdicts from the kept thread and judge
    expect(await judgePairs(target, [...PAIRS].reverse())).toEqual([...expected].reverse());
    expect(judgeThreads().started).toBe(after.started); // no thread started for them
    // Cancelled mid-judging, with its judge loaded and a forward pass in flight: the answer comes at
    // once, and the thread stops before its next pair. Terminating it mid-pass aborted this whole
    // process (onnxruntime-node's uncaught Napi::Error).
    const many = Array.from({ length: 40 }, (_, i) => PAIRS[i % PAIRS.length]!);
    const controller = new AbortController();
    const done: number[] = [];
    const pending = judgePairs(target, many, { signal: controller.signal, onProgress: (p) => (done.push(p.done), p.done === 1 && controller.abort()) });
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
    const idle = judgeThreads().idle; // the cancelled thread is still finishing its pass
    await vi.waitFor(() => expect(judgeThreads().idle).toBe(idle + 1), { timeout: 60_000, interval: 20 }); // then it is back
    expect(done).toEqual([1]); // no progress after the cancel
    expect(await judgePairs(target, PAIRS)).toEqual(expected); // and right
    expect(judgeThreads().started).toBe(after.started);
  });

  it("attempts no network access when a local judge path is given", async () => {
    const connect = vi.spyOn(net.Socket.prototype, "connect");
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    try {
      const home = mkdtempSync(join(tmpdir(), "whetstone-judge-"));
      const target = await resolveJudge({ judge: judgeDir }, home);
      await judgePairs(target, PAIRS, { inProcess: true });
      expect(fetchSpy).not.toHaveBeenCalled();
      expect(connect).not.toHaveBeenCalled();
      expect(existsSync(join(home, "judges"))).toBe(false);
    } finally {
      connect.mockRestore();
      fetchSpy.mockRestore();
    }
  });

  it("refuses a folder that is not a judge, saying what is missing", async () => {
    const empty = mkdtempSync(join(tmpdir(), "whetstone-judge-"));
    await expect(resolveJudge({ judge: empty }, empty)).rejects.toMatchObject({ code: "JUDGE_NOT_FOUND", message: expect.stringContaining("config.json") });
    writeFileSync(join(empty, "config.json"), "{}");
    await expect(resolveJudge({ judge: empty }, empty)).rejects.toMatchObject({ code: "JUDGE_NOT_FOUND", message: expect.stringContaining("onnx") });
  });
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

describe("OpenAI-compatible judge", () => {
  it("asks for one token with logprobs and reads the verdict distribution from top_logprobs, both orders", async () => {
    const bodies: { model: string; messages: { content: string }[]; max_tokens: number; logprobs: boolean; top_logprobs: number }[] = [];
    const { server, url } = await listen((req, res) => {
      if (req.url === "/v1/models") return res.end(JSON.stringify({ data: [{ id: "judge-7b" }] }));
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const parsed = JSON.parse(body);
        bodies.push(parsed);
        // A judge that prefers "2 plus 2 is 4." wherever it is shown.
        const good = parsed.messages[1].content.indexOf("2 plus 2 is 4.") < parsed.messages[1].content.indexOf("### Response 2");
        const top = [
          { token: good ? "1" : "2", logprob: Math.log(0.7) },
          { token: good ? " 2" : " 1", logprob: Math.log(0.2) },
          { token: "Tie", logprob: Math.log(0.05) },
          { token: "The", logprob: Math.log(0.05) },
        ];
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ choices: [{ message: { content: top[0]!.token }, logprobs: { content: [{ ...top[0], top_logprobs: top }] } }] }));
      });
    });
    try {
      const target = await resolveJudge({ judge: `${url}/v1` }, tmpdir());
      const [v] = await judgePairs(target, [PAIRS[0]!]);
      expect(bodies).toHaveLength(2);
      expect(bodies[0]).toMatchObject({ model: "judge-7b", max_tokens: 1, logprobs: true, top_logprobs: 20 });
      expect(v!.orders.model_first).toMatchObject({ first: expect.closeTo(0.7 / 0.95, 9), tie: expect.closeTo(0.05 / 0.95, 9), mass: expect.closeTo(0.95, 9) });
      expect(v!.verdict).toBe("win");
      expect(v!.win).toBeCloseTo(0.7 / 0.95, 9);
    } finally {
      server.close();
    }
  });

  it("refuses a server without logprobs, and names an unreachable one", async () => {
    const { server, url } = await listen((req, res) => res.end(JSON.stringify({ choices: [{ message: { content: "1" } }] })));
    try {
      await expect(judgePairs({ kind: "openai", url, name: url, model: "m", apiKey: null }, PAIRS)).rejects.toMatchObject({ code: "JUDGE_NO_LOGPROBS" });
    } finally {
      server.close();
    }
    await expect(judgePairs({ kind: "openai", url, name: url, model: "m", apiKey: null }, PAIRS, { inProcess: true })).rejects.toMatchObject({ code: "JUDGE_UNREACHABLE", message: expect.stringContaining(url) });
  });
});

describe("default judge download", () => {
  const big = Buffer.alloc(300_000, 7).map((_, i) => (i * 31) % 251);
  const small = Buffer.from('{"model_type": "llama"}\n');
  const gitSha1 = createHash("sha1").update(`blob ${small.length}\0`).update(small).digest("hex");
  const sha256 = createHash("sha256").update(big).digest("hex");
  const spec: JudgeSpec = { repo: "org/tiny-judge", revision: "main", files: [{ path: "config.json" }, { path: "onnx/model.onnx" }], approxBytes: 300_000 };
  let hub: { server: Server; url: string };
  const requests: { url: string; method: string; range?: string }[] = [];
  let cutNext = false;
  let corrupt = false;

  beforeAll(async () => {
    hub = await listen((req, res) => {
      requests.push({ url: req.url!, method: req.method!, range: req.headers.range });
      if (req.url!.startsWith("/org/tiny-judge/resolve/main/config.json")) {
        res.setHeader("etag", `"${gitSha1}"`);
        res.setHeader("content-length", small.length);
        return res.end(req.method === "HEAD" ? undefined : small);
      }
      if (req.url === "/org/tiny-judge/resolve/main/onnx/model.onnx") {
        // LFS: the hub redirects to the CDN and says the sha256 in X-Linked-Etag.
        res.writeHead(302, { location: "/cdn/model.onnx", "x-linked-etag": `"${sha256}"`, "x-linked-size": String(big.length) });
        return res.end();
      }
      if (req.url === "/cdn/model.onnx") {
        const body = corrupt ? Buffer.from(big).fill(1, 1000, 1010) : big;
        const start = req.headers.range ? Number(/bytes=(\d+)-/.exec(req.headers.range)![1]) : 0;
        res.writeHead(start ? 206 : 200, { "content-length": body.length - start, ...(start ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
        if (cutNext) {
          cutNext = false;
          res.write(body.subarray(start, start + 100_000));
          return setTimeout(() => res.destroy(), 20);
        }
        return res.end(body.subarray(start));
      }
      res.writeHead(404).end();
    });
  });
  afterAll(() => hub.server.close());

  it("downloads with progress, resumes an interrupted file with a Range request, verifies checksums and caches", async () => {
    const folder = join(mkdtempSync(join(tmpdir(), "whetstone-dl-")), "judge");
    cutNext = true;
    await expect(ensureJudge(folder, spec, { endpoint: hub.url })).rejects.toMatchObject({ code: "JUDGE_OFFLINE", message: expect.stringContaining("resumes") });
    expect(statSync(join(folder, "onnx", "model.onnx.part")).size).toBe(100_000);
    expect(isDownloaded(folder)).toBe(false);
    requests.length = 0;
    const seen: { bytes: number; totalBytes: number | null; eta_s: number | null }[] = [];
    await ensureJudge(folder, spec, { endpoint: hub.url, onProgress: (p) => seen.push(p) });
    expect(requests.find((r) => r.url === "/cdn/model.onnx")!.range).toBe("bytes=100000-");
    expect(readFileSync(join(folder, "onnx", "model.onnx")).equals(big)).toBe(true);
    expect(await hashFile(join(folder, "config.json"), "git-sha1")).toBe(gitSha1);
    expect(seen.at(-1)).toMatchObject({ bytes: big.length + small.length, totalBytes: big.length + small.length });
    expect(JSON.parse(readFileSync(join(folder, "whetstone-judge.json"), "utf8")).files["onnx/model.onnx"].sha256).toBe(sha256);
    requests.length = 0;
    await ensureJudge(folder, spec, { endpoint: hub.url });
    expect(requests).toEqual([]); // cached: no request at all
  });

  it("deletes a file that fails its checksum and says so", async () => {
    const folder = join(mkdtempSync(join(tmpdir(), "whetstone-dl-")), "judge");
    corrupt = true;
    try {
      await expect(ensureJudge(folder, spec, { endpoint: hub.url })).rejects.toMatchObject({ code: "JUDGE_CHECKSUM", message: expect.stringContaining("onnx/model.onnx") });
    } finally {
      corrupt = false;
    }
    expect(existsSync(join(folder, "onnx", "model.onnx"))).toBe(false);
    expect(isDownloaded(folder)).toBe(false);
  });

  it("offline: a clear message with what to do instead", async () => {
    const closed = await listen(() => {});
    const url = closed.url;
    await new Promise((r) => closed.server.close(r));
    const folder = join(mkdtempSync(join(tmpdir(), "whetstone-dl-")), "judge");
    const err = await ensureJudge(folder, spec, { endpoint: url }).catch((e) => e);
    expect(err).toMatchObject({ code: "JUDGE_OFFLINE", message: expect.stringContaining("ECONNREFUSED") });
    expect(err.message).toContain("org/tiny-judge");
    expect(err.hint).toContain("--judge PATH");
    expect(err.hint).toContain("--judge URL");
  });
});
