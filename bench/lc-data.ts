/**
 * AlpacaEval 2.0's public judgments, reduced to numbers (bench/data/alpacaeval-lc.json): for each of
 * 50 models, the GPT-4-Turbo judge's preference for the model over gpt4_1106_preview on each of the
 * 805 instructions and both answers' lengths, with the leaderboard's published win rate and LC win
 * rate. The file's `source` field names the repository commit and paths it was derived from. Shared
 * by `npm run bench -- lc` and the agreement test (tests/engine/eval/lc.test.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../engine/paths";
import type { Judgment } from "../engine/eval/stats";

export interface AlpacaModel {
  name: string;
  published_win_rate: number;
  published_lc: number;
  judgments: Judgment[];
}

interface File {
  source: Record<string, string>;
  baseline_length: number[];
  models: { name: string; published_win_rate: number; published_lc: number; preference_e4: number[]; model_length: number[] }[];
}

export const ALPACA_DATA = join(PROJECT_ROOT, "bench", "data", "alpacaeval-lc.json");

export function loadAlpacaEval(path = ALPACA_DATA): { source: Record<string, string>; models: AlpacaModel[] } {
  const file = JSON.parse(readFileSync(path, "utf8")) as File;
  return {
    source: file.source,
    models: file.models.map((m) => ({
      name: m.name,
      published_win_rate: m.published_win_rate,
      published_lc: m.published_lc,
      judgments: m.preference_e4.map((p, i) => ({ preference: p / 1e4, modelLength: m.model_length[i]!, baselineLength: file.baseline_length[i]! })),
    })),
  };
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (xs: readonly number[]) => {
    const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = Array<number>(xs.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
      for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const m = (ra.length - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  ra.forEach((x, i) => {
    num += (x - m) * (rb[i]! - m);
    da += (x - m) ** 2;
    db += (rb[i]! - m) ** 2;
  });
  return num / Math.sqrt(da * db);
}

export interface Agreement {
  mae: number;
  max: number;
  worst: string;
  spearman: number;
  bias: number;
}

export function agreement(rows: readonly { name: string; published: number; ours: number }[]): Agreement {
  const errors = rows.map((r) => r.ours - r.published);
  const abs = errors.map(Math.abs);
  const worst = abs.indexOf(Math.max(...abs));
  return {
    mae: abs.reduce((a, b) => a + b, 0) / abs.length,
    max: abs[worst]!,
    worst: rows[worst]!.name,
    spearman: spearman(rows.map((r) => r.ours), rows.map((r) => r.published)),
    bias: errors.reduce((a, b) => a + b, 0) / errors.length,
  };
}
