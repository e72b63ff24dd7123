/**
 * Preference pairs are measured as training will see them: the engine's pair tokenization
 * (pairs.ts, behind the report's token statistics) equals the worker's build_pairs (via
 * `python -m whetstone_worker.data.preview --pairs`) side for side, token for token, with the same
 * kept/dropped/truncated counts, on a snapshot holding pairs of every shape (strings, a multi-turn
 * prompt with an assistant turn as context, an HH transcript, an overlong pair).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { inspectDataset } from "../../../engine/data/inspect";
import { tokenizePair } from "../../../engine/data/pairs";
import { writeSnapshot } from "../../../engine/data/snapshot";
import { loadChatTokenizer, type ChatTokenizer } from "../../../engine/data/tokenizer";
import type { PreferenceSample } from "../../../engine/data/types";
import { PROJECT_ROOT } from "../../../engine/paths";
import { ensureTinyModel } from "../../helpers/fixture";
import { workerPythonOutput } from "../../helpers/python";

const dir = mkdtempSync(join(tmpdir(), "whetstone-pairs-"));
const SOURCE = join(dir, "pairs.jsonl");
const PAIRS = readFileSync(join(PROJECT_ROOT, "examples", "data", "tiny-pairs.jsonl"), "utf8").trim().split("\n").slice(0, 12);
const EXTRA = [
  { prompt: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello! How can I help?" }, { role: "user", content: "A fruit?" }], chosen: [{ role: "assistant", content: "An apple." }], rejected: [{ role: "assistant", content: "No." }] },
  { chosen: "\n\nHuman: Name a color.\n\nAssistant: Blue.\n\nHuman: Another?\n\nAssistant: Green, like grass.", rejected: "\n\nHuman: Name a color.\n\nAssistant: Blue.\n\nHuman: Another?\n\nAssistant: No." },
  { prompt: "Count to forty.", chosen: Array.from({ length: 40 }, (_, i) => String(i + 1)).join(" "), rejected: "1 2 3." },
  { system: "Be kind.", prompt: "Say hi.", chosen: "Hi there, friend!", rejected: "Go away." },
];
const SETTINGS = [
  { max_length: 1024, overlong: "drop" as const },
  { max_length: 40, overlong: "drop" as const },
  { max_length: 40, overlong: "truncate" as const },
];
let model: string;
let tok: ChatTokenizer;
let snapshot: string;
type Side = { ids: number[]; trained: number[] };
type WorkerPairs = { pairs: { line: number; chosen: Side; rejected: Side }[]; report: { read: number; kept: number; truncated: number; dropped: Record<string, number> } };
let fromWorker: WorkerPairs[];

beforeAll(async () => {
  model = ensureTinyModel();
  tok = await loadChatTokenizer(model);
  writeFileSync(SOURCE, [...PAIRS, ...EXTRA.map((r) => JSON.stringify(r))].join("\n") + "\n");
  await writeSnapshot(SOURCE, dir, { method: "dpo" });
  snapshot = join(dir, "data", "train.jsonl");
  const args = ["-m", "whetstone_worker.data.preview", "--pairs", "--data", snapshot, "--model", model, "--settings", JSON.stringify(SETTINGS)];
  fromWorker = JSON.parse(await workerPythonOutput(args)) as WorkerPairs[];
});

function engine(maxLength: number, overlong: "drop" | "truncate") {
  const report = { read: 0, kept: 0, truncated: 0, dropped: {} as Record<string, number> };
  const pairs: WorkerPairs["pairs"] = [];
  readFileSync(snapshot, "utf8")
    .trim()
    .split("\n")
    .forEach((line, i) => {
      const t = tokenizePair(tok, JSON.parse(line) as PreferenceSample, maxLength, overlong);
      report.read++;
      if (t.truncated) report.truncated++;
      if (t.dropped) {
        report.dropped[t.dropped] = (report.dropped[t.dropped] ?? 0) + 1;
        return;
      }
      report.kept++;
      const side = (s: { ids: Int32Array; trained: Uint8Array }) => ({ ids: Array.from(s.ids), trained: Array.from(s.trained) });
      pairs.push({ line: i + 1, chosen: side(t.chosen), rejected: side(t.rejected) });
    });
  return { pairs, report };
}

describe("preference pairs: engine statistics = worker training data", () => {
  it("the snapshot holds every shape as {prompt, chosen, rejected}, the HH row split into turns", () => {
    const rows = readFileSync(snapshot, "utf8").trim().split("\n").map((l) => JSON.parse(l) as PreferenceSample);
    expect(rows).toHaveLength(PAIRS.length + EXTRA.length);
    expect(rows[PAIRS.length + 1]).toEqual({
      prompt: [
        { role: "user", content: "Name a color." },
        { role: "assistant", content: "Blue." },
        { role: "user", content: "Another?" },
      ],
      chosen: [{ role: "assistant", content: "Green, like grass." }],
      rejected: [{ role: "assistant", content: "No." }],
    });
    expect(rows.at(-1)!.prompt[0]).toEqual({ role: "system", content: "Be kind." });
  });

  it.each(SETTINGS.map((s, i) => ({ ...s, i })))("max_length $max_length, overlong $overlong: both sides token for token", ({ max_length, overlong, i }) => {
    const w = fromWorker[i]!;
    const e = engine(max_length, overlong);
    expect(e.report).toEqual(w.report);
    expect(e.pairs).toEqual(w.pairs);
    if (i === 0) expect(w.report.kept).toBe(PAIRS.length + EXTRA.length);
    if (overlong === "drop" && i > 0) expect(w.report.kept).toBeLessThan(PAIRS.length + EXTRA.length);
    if (overlong === "truncate") expect(w.report.truncated).toBeGreaterThan(0);
  });

  it("the report's token statistics count both sides of each kept pair (what the worker trains on)", async () => {
    for (const [i, s] of SETTINGS.entries()) {
      const r = await inspectDataset(SOURCE, { model, method: "dpo", maxLength: s.max_length, overlong: s.overlong });
      const w = fromWorker[i]!;
      const trained = (x: Side) => x.trained.slice(1).reduce((a, b) => a + b, 0);
      expect(r.stats.tokens).toMatchObject({
        samples: PAIRS.length + EXTRA.length,
        sequences: 2 * (PAIRS.length + EXTRA.length),
        kept: w.report.kept,
        truncated: w.report.truncated,
        dropped_too_long: w.report.dropped.too_long ?? 0,
        tokens_per_epoch: w.pairs.reduce((a, p) => a + p.chosen.ids.length + p.rejected.ids.length, 0),
        trained_tokens_per_epoch: w.pairs.reduce((a, p) => a + trained(p.chosen) + trained(p.rejected), 0),
        pair_sides: { chosen_trained_tokens: w.pairs.reduce((a, p) => a + trained(p.chosen), 0), rejected_trained_tokens: w.pairs.reduce((a, p) => a + trained(p.rejected), 0) },
      });
      expect(r.stats.tokens!.histogram.reduce((a, b) => a + b.count, 0)).toBe(2 * (PAIRS.length + EXTRA.length));
      expect(r.trainable).toBe(true);
    }
  });
});
