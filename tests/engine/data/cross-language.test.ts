/**
 * The engine's preview and the worker's training data agree token for token: the same
 * conversations go through engine/data (segments.ts, goldfish.ts, on @huggingface/transformers)
 * and through the worker's own build_samples + goldfish_drop_mask + sample_labels (via
 * `python -m whetstone_worker.data.preview`), and the token ids, trained masks, goldfish drop
 * masks, labels and the kept/dropped/truncated counts must be identical.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { previewDataset } from "../../../engine/data/preview";
import { goldfishDropMask, goldfishTable, type GoldfishOptions } from "../../../engine/data/goldfish";
import { tokenizeChat } from "../../../engine/data/segments";
import { loadChatTokenizer, type ChatTokenizer } from "../../../engine/data/tokenizer";
import type { Message } from "../../../engine/data/types";
import { ensureTinyModel, TINY_DATA } from "../../helpers/fixture";
import { workerPythonOutput } from "../../helpers/python";

interface WorkerSample {
  line: number;
  ids: number[];
  trained: number[];
  dropped: number[];
  labels: number[];
}

const dir = mkdtempSync(join(tmpdir(), "whetstone-xlang-"));
const DATA = join(dir, "samples.jsonl");
let model: string;
let tok: ChatTokenizer;
let table: Float32Array;
let fromWorker: WorkerResult[];

beforeAll(async () => {
  model = ensureTinyModel();
  tok = await loadChatTokenizer(model);
  table = await goldfishTable();
  const extra: Message[][] = [
    [{ role: "system", content: "You are terse." }, { role: "user", content: "Weather in Paris?" }, { role: "assistant", content: "Let me check." }, { role: "tool", content: '{"temp": 21}' }, { role: "assistant", content: "21 °C, sunny ☀️." }],
    [{ role: "user", content: "Café? Ünïcödé — ok" }, { role: "assistant", content: "Oui: «café» ✓" }],
    [{ role: "user", content: "Count." }, { role: "assistant", content: Array.from({ length: 60 }, (_, i) => String(i)).join(" ") }],
    [{ role: "user", content: "A long question ".repeat(12) }, { role: "assistant", content: "Short." }],
    [{ role: "user", content: "  leading and trailing spaces  " }, { role: "assistant", content: "\n\nnewlines\n" }],
  ];
  const lines = readFileSync(TINY_DATA, "utf8").trim().split("\n");
  writeFileSync(DATA, [...lines, ...extra.map((messages) => JSON.stringify({ messages }))].join("\n") + "\n");
  fromWorker = await worker();
});

type WorkerResult = { samples: WorkerSample[]; report: { read: number; kept: number; truncated: number; dropped: Record<string, number> } };

const SETTINGS = [
  { maxLength: 1024, overlong: "drop" as const, goldfish: { k: 4, h: 13, variant: "hashed" as const } },
  { maxLength: 48, overlong: "truncate" as const, goldfish: { k: 2, h: 3, variant: "hashed" as const } },
  { maxLength: 40, overlong: "drop" as const, goldfish: { k: 3, h: 13, variant: "static" as const } },
  { maxLength: 64, overlong: "truncate" as const, goldfish: null },
];

/** All settings in one worker process (importing torch costs seconds). */
async function worker(): Promise<WorkerResult[]> {
  const settings = SETTINGS.map((s) => ({ max_length: s.maxLength, overlong: s.overlong, goldfish: s.goldfish }));
  const args = ["-m", "whetstone_worker.data.preview", "--data", DATA, "--model", model, "--settings", JSON.stringify(settings)];
  return JSON.parse(await workerPythonOutput(args)) as WorkerResult[];
}

function engine(maxLength: number, overlong: "drop" | "truncate", goldfish: GoldfishOptions | null) {
  const samples: WorkerSample[] = [];
  const report = { read: 0, kept: 0, truncated: 0, dropped: {} as Record<string, number> };
  readFileSync(DATA, "utf8")
    .trim()
    .split("\n")
    .forEach((line, i) => {
      const t = tokenizeChat(tok, (JSON.parse(line) as { messages: Message[] }).messages, maxLength, overlong);
      report.read++;
      if (t.truncated) report.truncated++;
      if (t.dropped) {
        report.dropped[t.dropped] = (report.dropped[t.dropped] ?? 0) + 1;
        return;
      }
      report.kept++;
      const mask = goldfish ? goldfishDropMask(t.ids, goldfish, table)! : new Uint8Array(t.ids.length);
      const dropped = Array.from(t.trained, (tr, j) => (tr && mask[j] ? 1 : 0));
      samples.push({ line: i + 1, ids: Array.from(t.ids), trained: Array.from(t.trained), dropped, labels: Array.from(t.ids, (id, j) => (t.trained[j] && !dropped[j] ? id : -100)) });
    });
  return { samples, report };
}

describe("engine preview = worker training data", () => {
  it.each(SETTINGS.map((s, i) => ({ ...s, i })))("max_length $maxLength, overlong $overlong, goldfish $goldfish.variant", ({ maxLength, overlong, goldfish, i }) => {
    const w = fromWorker[i]!;
    const e = engine(maxLength, overlong, goldfish);
    expect(e.report).toEqual(w.report);
    expect(e.samples.length).toBe(w.samples.length);
    for (let i = 0; i < w.samples.length; i++) expect(e.samples[i], `sample at line ${w.samples[i]!.line}`).toEqual(w.samples[i]);
    if (goldfish) expect(w.samples.some((s) => s.dropped.includes(1))).toBe(true);
  });

  it("previewDataset (the API and CLI preview) shows the worker's tokens, masks and goldfish drops", async () => {
    const w = fromWorker[0]!.samples;
    for (const ws of [w[0]!, w.at(-5)!, w.at(-4)!]) {
      const p = await previewDataset(DATA, { model, index: ws.line - 1, maxLength: 1024, goldfish: SETTINGS[0]!.goldfish });
      expect(p.tokens.map((t) => t.id)).toEqual(ws.ids);
      expect(p.tokens.map((t) => (t.trained ? 1 : 0))).toEqual(ws.trained);
      expect(p.tokens.map((t) => (t.dropped ? 1 : 0))).toEqual(ws.dropped);
      expect(p.goldfish?.dropped_tokens).toBe(ws.dropped.slice(1).reduce((a, b) => a + b, 0));
    }
  });
});
