/**
 * `whetstone eval --judgments FILE`: re-score judgments made elsewhere (another judge, another tool,
 * AlpacaEval's own annotations) with our win rate and LC win rate and their bootstrap CIs.
 *
 * The file is JSONL, one judgment per prompt:
 *   {"id": …, "preference": P(model beats baseline) in [0, 1] (ties 0.5),
 *    "model_length": characters, "baseline_length": characters, "instruction": optional text}
 * Every row is checked before anything is computed, and every bad row is reported with its line and
 * field (up to MAX_LISTED, with the count of the rest): a half-valid file gives no number, because a
 * win rate over the rows that happened to parse would silently describe a different prompt set.
 * Blank lines are skipped; a UTF-8 byte-order mark is ignored. The user's file is only read.
 */
import { readFileSync, statSync } from "node:fs";
import { WhetstoneError } from "../util/errors";
import { summarize, type Judgment, type WinRateSummary } from "./stats";

const MAX_LISTED = 20;
const FIELDS = new Set(["id", "preference", "model_length", "baseline_length", "instruction"]);

export interface JudgmentsResult {
  file: string;
  n: number;
  /** Percent; CIs are [low, high] in percent. */
  win_rate: number;
  win_rate_ci: [number, number];
  lc_win_rate: number;
  lc_win_rate_ci: [number, number];
  wins: number;
  ties: number;
  losses: number;
  avg_length_model: number;
  avg_length_baseline: number;
  lc_fit: WinRateSummary["lc_fit"];
}

function checkRow(value: unknown, line: number, file: string, seen: Map<string, number>): { judgment: Judgment; problems: string[] } | { judgment: null; problems: string[] } {
  const at = `${file}:${line}`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { judgment: null, problems: [`${at}: expected a JSON object like {"id": 1, "preference": 0.5, "model_length": 120, "baseline_length": 100}, got ${Array.isArray(value) ? "an array" : JSON.stringify(value)}`] };
  const row = value as Record<string, unknown>;
  const problems: string[] = [];
  const id = row.id;
  if (id === undefined) problems.push(`${at}: field "id" is missing`);
  else if (typeof id !== "string" && typeof id !== "number") problems.push(`${at}: field "id" must be a string or a number, got ${JSON.stringify(id)}`);
  else {
    const key = `${typeof id}:${String(id)}`;
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${at}: field "id" ${JSON.stringify(id)} repeats line ${first} (one judgment per prompt)`);
    else seen.set(key, line);
  }
  const pref = row.preference;
  if (pref === undefined) problems.push(`${at}: field "preference" is missing`);
  else if (typeof pref !== "number" || !Number.isFinite(pref) || pref < 0 || pref > 1)
    problems.push(`${at}: field "preference" must be a number from 0 to 1 (the probability that the model beats the baseline, ties 0.5), got ${JSON.stringify(pref)}${typeof pref === "number" && pref >= 1 && pref <= 2 ? " (AlpacaEval's 1..2 scale? subtract 1)" : ""}`);
  for (const field of ["model_length", "baseline_length"] as const) {
    const v = row[field];
    if (v === undefined) problems.push(`${at}: field "${field}" is missing (the answer's length in characters)`);
    else if (typeof v !== "number" || !Number.isInteger(v) || v < 0) problems.push(`${at}: field "${field}" must be a whole number of characters ≥ 0, got ${JSON.stringify(v)}`);
  }
  if (row.instruction !== undefined && typeof row.instruction !== "string") problems.push(`${at}: field "instruction" must be text, got ${JSON.stringify(row.instruction)}`);
  const unknown = Object.keys(row).filter((k) => !FIELDS.has(k));
  if (unknown.length) problems.push(`${at}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")} (expected id, preference, model_length, baseline_length, instruction)`);
  if (problems.length) return { judgment: null, problems };
  return { judgment: { preference: pref as number, modelLength: row.model_length as number, baselineLength: row.baseline_length as number }, problems };
}

/** Read and check a judgments file; throws one error listing every bad row. */
export function readJudgments(file: string): Judgment[] {
  let text: string;
  try {
    if (!statSync(file).isFile()) throw new Error("not a file");
    text = readFileSync(file, "utf8");
  } catch {
    throw new WhetstoneError({ code: "DATA_NOT_FOUND", message: `Cannot read the judgments file ${file}.`, where: file, hint: "Give the path of a JSONL file, one judgment per line." });
  }
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const seen = new Map<string, number>();
  const judgments: Judgment[] = [];
  const problems: string[] = [];
  lines.forEach((raw, i) => {
    if (!raw.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      problems.push(`${file}:${i + 1}: not valid JSON (${(e as Error).message}): ${raw.length > 80 ? `${raw.slice(0, 79)}…` : raw}`);
      return;
    }
    const row = checkRow(value, i + 1, file, seen);
    problems.push(...row.problems);
    if (row.judgment) judgments.push(row.judgment);
  });
  if (problems.length) {
    const listed = problems.slice(0, MAX_LISTED);
    if (problems.length > MAX_LISTED) listed.push(`… and ${problems.length - MAX_LISTED} more`);
    throw new WhetstoneError({
      code: "DATA_JUDGMENTS",
      message: `${problems.length} problem${problems.length > 1 ? "s" : ""} in the judgments file; nothing was scored.`,
      where: problems[0]!.split(": ")[0],
      details: listed,
      hint: 'Each line must be one JSON object: {"id": …, "preference": 0..1 (ties 0.5), "model_length": characters, "baseline_length": characters}, optionally "instruction". Fix or remove the lines listed.',
    });
  }
  if (!judgments.length) throw new WhetstoneError({ code: "DATA_JUDGMENTS", message: `The judgments file ${file} has no judgments.`, where: file, hint: "Add one JSON line per judged prompt." });
  return judgments;
}

/** Win rate and LC win rate with 95% bootstrap CIs, all in percent. */
export function scoreJudgments(file: string, { resamples = 1000, seed = 0 } = {}): JudgmentsResult {
  const judgments = readJudgments(file);
  const verdicts = judgments.map((j) => (j.preference > 0.5 ? "win" : j.preference < 0.5 ? "loss" : "tie") as "win" | "loss" | "tie");
  const s = summarize(judgments, verdicts, { resamples, seed });
  return {
    file,
    n: s.n,
    win_rate: s.win_rate,
    win_rate_ci: [s.win_rate_ci.low, s.win_rate_ci.high],
    lc_win_rate: s.lc_win_rate,
    lc_win_rate_ci: [s.lc_win_rate_ci.low, s.lc_win_rate_ci.high],
    wins: s.wins,
    ties: s.ties,
    losses: s.losses,
    avg_length_model: s.avg_length_model,
    avg_length_baseline: s.avg_length_baseline,
    lc_fit: s.lc_fit,
  };
}

/** The terminal form. */
export function formatJudgments(r: JudgmentsResult): string {
  const ci = (c: [number, number]) => `[${c[0].toFixed(1)}, ${c[1].toFixed(1)}]`;
  return [
    `Judgments: ${r.n} from ${r.file}`,
    `  win rate (ties half)          ${r.win_rate.toFixed(1)}%  95% CI ${ci(r.win_rate_ci)}`,
    `  length-controlled win rate    ${r.lc_win_rate.toFixed(1)}%  95% CI ${ci(r.lc_win_rate_ci)}`,
    `  wins / ties / losses          ${r.wins} / ${r.ties} / ${r.losses} (preference above, at, below 0.5)`,
    `  average length (characters)   model ${r.avg_length_model.toFixed(0)}, baseline ${r.avg_length_baseline.toFixed(0)}`,
  ].join("\n");
}
