/**
 * Rows the worker could only fail on (an INTERNAL error mid-run, with a resume hint that fails
 * again) are refused by the engine before training, each with its code and line: a conversation
 * that opens with an assistant turn (the worker renders the turns before each answer, here none:
 * "Cannot apply chat template to an empty conversation"), a pair with no prompt (the same crash),
 * an empty prompt, a pair with identical sides, HH transcripts that do not share their prefix, an
 * empty HH answer. With skip_invalid, what the snapshot keeps goes through the worker's own
 * build_samples / build_pairs without an error.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { writeSnapshot } from "../../../engine/data/snapshot";
import { WhetstoneError } from "../../../engine/util/errors";
import { ensureTinyModel } from "../../helpers/fixture";
import { workerPythonOutput } from "../../helpers/python";

const dir = mkdtempSync(join(tmpdir(), "whetstone-guards-"));
const user = (content: string) => ({ role: "user", content });
const bot = (content: string) => ({ role: "assistant", content });
const GOOD_CHAT = { messages: [user("Name a prime."), bot("Seven.")] };
const GOOD_PAIR = { prompt: "Name a prime.", chosen: "Seven.", rejected: "Nine." };
const goodFor = (c: { method: string; good?: unknown }) => c.good ?? (c.method === "sft" ? GOOD_CHAT : GOOD_PAIR);

interface Case {
  name: string;
  method: "sft" | "dpo";
  row: unknown;
  code: string;
  /** A valid row of the same shape, around the bad one (default: a chat conversation or a pair). */
  good?: unknown;
}

const CASES: Case[] = [
  {
    name: "a ShareGPT conversation that opens with the assistant",
    method: "sft",
    row: { conversations: [{ from: "gpt", value: "Hello! Ask me." }, { from: "human", value: "Hi" }, { from: "gpt", value: "Yes?" }] },
    code: "DATA_LEADING_ASSISTANT",
    good: { conversations: [{ from: "human", value: "Name a prime." }, { from: "gpt", value: "Seven." }] },
  },
  { name: "a chat conversation that opens with the assistant", method: "sft", row: { messages: [bot("Hello!"), user("Hi"), bot("Yes?")] }, code: "DATA_LEADING_ASSISTANT" },
  { name: "an empty prompt (prompt/completion)", method: "sft", row: { prompt: " ", completion: "Seven." }, code: "DATA_EMPTY_FIELD", good: { prompt: "Name a prime.", completion: "Seven." } },
  { name: "a pair whose prompt is an empty list", method: "dpo", row: { prompt: [], chosen: [bot("Seven.")], rejected: [bot("Nine.")] }, code: "DATA_EMPTY_PROMPT" },
  { name: "a pair whose prompt is blank", method: "dpo", row: { prompt: "  ", chosen: "Seven.", rejected: "Nine." }, code: "DATA_EMPTY_PROMPT" },
  { name: "a pair whose prompt is only a system message", method: "dpo", row: { prompt: [{ role: "system", content: "Be brief." }], chosen: [bot("Seven.")], rejected: [bot("Nine.")] }, code: "DATA_EMPTY_PROMPT" },
  { name: "a pair with identical sides", method: "dpo", row: { prompt: "Name a prime.", chosen: "Seven.", rejected: "Seven." }, code: "DATA_PAIR_IDENTICAL" },
  {
    name: "HH transcripts that differ before their last answers",
    method: "dpo",
    row: { chosen: "\n\nHuman: Name a prime.\n\nAssistant: Seven.", rejected: "\n\nHuman: Name a color.\n\nAssistant: Blue." },
    code: "DATA_PAIR_PREFIX",
  },
  { name: "an HH transcript with an empty last answer", method: "dpo", row: { chosen: "\n\nHuman: Name a prime.\n\nAssistant: Seven.", rejected: "\n\nHuman: Name a prime.\n\nAssistant:" }, code: "DATA_EMPTY_ASSISTANT" },
];

async function refusal(p: Promise<unknown>): Promise<WhetstoneError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WhetstoneError) return e;
    throw e;
  }
  throw new Error("the snapshot was written: the engine let the row through");
}

describe("rows the worker cannot train on are refused before training, with their line", () => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, i) => {
    const src = join(dir, `case-${i}.jsonl`);
    const good = goodFor(c);
    writeFileSync(src, [good, c.row, good].map((r) => JSON.stringify(r)).join("\n") + "\n");
    const err = await refusal(writeSnapshot(src, mkdtempSync(join(dir, "run-")), { method: c.method }));
    expect(err.code).toBe("DATA_INVALID");
    expect(err.message).toContain(`first: line 2: `);
    expect(err.message).toContain(`[${c.code}]`);
  });
});

describe("what the snapshot keeps, the worker trains on", () => {
  let model: string;
  beforeAll(() => {
    model = ensureTinyModel();
  });

  async function workerReads(snapshot: string, pairs: boolean): Promise<{ read: number; kept: number }> {
    const args = ["-m", "whetstone_worker.data.preview", ...(pairs ? ["--pairs"] : []), "--data", snapshot, "--model", model, "--settings", JSON.stringify([{ max_length: 256, overlong: "drop" }])];
    const out = JSON.parse(await workerPythonOutput(args)) as { report: { read: number; kept: number } }[];
    return out[0]!.report;
  }

  it.each([
    ["sft", false],
    ["dpo", true],
  ] as const)("%s: each refused row skipped, the rest read by the worker without an error", async (method, pairs) => {
    const kept: string[] = [];
    for (const [i, c] of CASES.entries()) {
      if (c.method !== method) continue;
      const src = join(dir, `skip-${i}.jsonl`);
      writeFileSync(src, [goodFor(c), c.row].map((r) => JSON.stringify(r)).join("\n") + "\n");
      const run = mkdtempSync(join(dir, "run-"));
      const m = await writeSnapshot(src, run, { method, skipInvalid: true });
      expect([m.rows, m.skipped.count, m.skipped.rows[0]?.code]).toEqual([1, 1, c.code]);
      kept.push(readFileSync(join(run, "data", "train.jsonl"), "utf8"));
    }
    const all = join(dir, `kept-${method}.jsonl`);
    writeFileSync(all, kept.join(""));
    expect(await workerReads(all, pairs)).toMatchObject({ read: kept.length, kept: kept.length });
  });
});
