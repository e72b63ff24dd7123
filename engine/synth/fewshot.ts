/**
 * Few-shot prompt synthesis (ALMA's): each candidate shows the model k prompts drawn from the
 * user's own file, as a numbered list of requests, and lets it write the next one; the prompt ends
 * at the next header (a stop text). The draw is seeded by (seed, candidate index), so a candidate
 * sees the same examples however the run was split. Seeds are the first user turn of each sample
 * of any dataset `whetstone data check` reads; longer ones are left out so k of them fit a context.
 */
import { existsSync } from "node:fs";
import { scanDataset } from "../data/scan";
import { WhetstoneError } from "../util/errors";

export interface SeedPrompt {
  text: string;
  /** file:line */
  where: string;
}

/** Seeds longer than this are not shown (a few-shot context of k of them must fit the model). */
const MAX_SEED_CHARS = 2000;
export const STOP_TEXTS = ["\n###"];

export async function loadSeeds(path: string): Promise<SeedPrompt[]> {
  if (!existsSync(path)) throw new WhetstoneError({ code: "SYNTH_SEEDS_NOT_FOUND", message: `Seed file not found: ${path}`, hint: "Give --seeds a dataset file of your own prompts (JSONL, JSON, CSV, Parquet).", where: path });
  const seeds: SeedPrompt[] = [];
  const seen = new Set<string>();
  const scan = await scanDataset(path, {
    onRow: (row) => {
      const s = row.sample;
      const turns = s === null ? null : "messages" in s ? s.messages : "fields" in s ? s.prompt : "prompt" in s ? s.prompt : null;
      const text = turns?.find((m) => m.role === "user")?.content.trim();
      if (!text || text.length > MAX_SEED_CHARS || seen.has(text)) return;
      seen.add(text);
      seeds.push({ text, where: `${row.file}:${row.line ?? row.row}` });
    },
  });
  if (seeds.length === 0) {
    const why = scan.blocking[0] ? ` (first problem: ${scan.blocking[0].message})` : "";
    throw new WhetstoneError({
      code: "SYNTH_NO_SEEDS",
      message: `${path} has no prompt to show as an example: no row with a user turn of at most ${MAX_SEED_CHARS} characters${why}.`,
      hint: "Give --seeds a file of your prompts: {\"messages\": [{\"role\": \"user\", …}]}, {\"prompt\": …} or any shape `whetstone data check` reads.",
      where: path,
    });
  }
  return seeds;
}

/** The k examples candidate `index` shows, drawn without replacement. */
export function drawExamples(seeds: SeedPrompt[], k: number, seed: number, index: number): SeedPrompt[] {
  const random = mulberry32(Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  const pool = seeds.map((_, i) => i);
  const take = Math.min(k, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, take).map((i) => seeds[i]!);
}

export function fewshotPrefix(examples: SeedPrompt[]): string {
  const shown = examples.map((e, i) => `### Request ${i + 1}\n${e.text}\n\n`).join("");
  return `Below are requests that users sent to an AI assistant. Each is different in topic and wording.\n\n${shown}### Request ${examples.length + 1}\n`;
}

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
