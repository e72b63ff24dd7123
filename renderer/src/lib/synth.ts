/**
 * The Data step's "Generate data with a model" panel in words and numbers: the form's checks and
 * the synthData request it makes, where the file goes by default, and the engine's `synth`
 * progress and final report said for people (no option names, no flags). Kept free of React so
 * the panel's tests can check each sentence on its own.
 */
import type { ApiInput, ApiOutput } from "../../../engine/api/contract";
import type { ProgressInfo } from "../../../engine/api/events";
import type { Draft } from "./draft";
import { duration } from "./format";

export type SynthRequest = ApiInput<"synthData">;
export type SynthReport = ApiOutput<"synthData">;
export type SynthMethod = SynthRequest["method"];
type Filter = NonNullable<SynthRequest["filters"]>[number];

/** The filters a person can switch off (an empty row is always dropped: it cannot train). */
export const OPTIONAL_FILTERS: { id: Filter; label: string }[] = [
  { id: "truncated", label: "Drop cut-off answers (stopped at the length limit)" },
  { id: "repeated", label: "Drop repetitive answers (the same words over and over)" },
  { id: "refusal", label: "Drop refusing answers (“I'm sorry, I can't…”)" },
];

/** Why a candidate was dropped, as a count reads: "4 cut off". */
const DROPPED_AS: Record<Filter, string> = { empty: "empty", truncated: "cut off", repeated: "repetitive", refusal: "refusing" };

/** What the panel's fields hold, as typed (numbers stay text until checked). */
export interface SynthForm {
  method: SynthMethod;
  /** "run": the finished run the wizard chains from (its trained weights); "base": the base model. */
  writer: "base" | "run";
  rows: string;
  /** "" until the user types a path: the default is shown instead. */
  out: string;
  examples: { path: string; name: string } | null;
  examplesShown: string;
  seed: string;
  filters: Filter[];
  promptTokens: string;
  answerTokens: string;
  heldOut: { path: string; name: string } | null;
}

export const DEFAULT_SYNTH_FORM: SynthForm = {
  method: "magpie",
  writer: "base",
  rows: "100",
  out: "",
  examples: null,
  examplesShown: "3",
  seed: "0",
  filters: OPTIONAL_FILTERS.map((f) => f.id),
  promptTokens: "128",
  answerTokens: "512",
  heldOut: null,
};

/**
 * The file rows go to unless the user types another: beside their data when they chose a file
 * (named after the method, since a file continues only with the method that began it), else in
 * the engine's folder, as the Export step's default destination is.
 */
export function defaultOutPath(method: SynthMethod, dataPath: string | null, home: string | null): string {
  const name = `synth-${method}.jsonl`;
  if (dataPath) {
    const cut = Math.max(dataPath.lastIndexOf("/"), dataPath.lastIndexOf("\\"));
    if (cut > 0) return `${dataPath.slice(0, cut)}${dataPath[cut]}${name}`;
  }
  return home ? `${home}/synthetic/${name}` : "";
}

export function fileName(path: string): string {
  return path.split(/[\\/]/).pop() || path;
}

const whole = (text: string, label: string, min: number, max: number, problems: string[]): number => {
  const t = text.trim();
  const v = Number(t);
  if (t === "" || !Number.isInteger(v)) problems.push(`${label}: give a whole number.`);
  else if (v < min) problems.push(`${label}: at least ${min}.`);
  else if (v > max) problems.push(`${label}: at most ${max.toLocaleString("en")}.`);
  return v;
};

/** The request the form makes, or what to fix first (in words, one sentence each). */
export function synthRequest(form: SynthForm, draft: Pick<Draft, "modelPath" | "initFrom" | "dataPath">, home: string | null): { request: SynthRequest | null; problems: string[] } {
  const problems: string[] = [];
  const model = draft.modelPath.trim();
  const byRun = form.writer === "run" && draft.initFrom !== null;
  if (!byRun && !model) problems.push("Choose a base model in step 1 first: it writes the rows.");
  const n = whole(form.rows, "How many rows", 1, 1_000_000, problems);
  const out = (form.out || defaultOutPath(form.method, draft.dataPath, home)).trim();
  if (!out) problems.push("Say where to save the rows.");
  else if (!/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(out)) problems.push("Save the rows to a full path, starting at the top of a disk (like /home/you/data/more.jsonl).");
  else if (!/\.(jsonl|ndjson)$/i.test(out)) problems.push("Save the rows to a .jsonl file: each line is one conversation.");
  if (form.method === "fewshot" && !form.examples) problems.push("Choose a file of your example prompts: the model writes new ones like them.");
  const seed = whole(form.seed, "Seed", 0, Number.MAX_SAFE_INTEGER, problems);
  const k = form.method === "fewshot" ? whole(form.examplesShown, "Examples shown each time", 1, 20, problems) : 0;
  const promptTokens = whole(form.promptTokens, "Longest prompt", 1, 4096, problems);
  const maxNewTokens = whole(form.answerTokens, "Longest answer", 1, 32_768, problems);
  if (problems.length) return { request: null, problems };
  return {
    problems,
    request: {
      method: form.method,
      n,
      out,
      ...(byRun ? { run: draft.initFrom!.id } : { model }),
      seed,
      ...(form.method === "fewshot" ? { seeds: form.examples!.path, k } : {}),
      promptTokens,
      maxNewTokens,
      filters: ["empty", ...OPTIONAL_FILTERS.map((f) => f.id).filter((id) => form.filters.includes(id))],
      ...(form.heldOut ? { evalPrompts: form.heldOut.path } : {}),
    },
  };
}

/** What a rerun will do with the rows already in the file (null: no file there yet). */
export function resumeNote(rowsInFile: number | null, n: number): string | null {
  if (!rowsInFile) return null;
  if (rowsInFile >= n) return `The file already holds ${rowsInFile} rows, as many as asked for: ask for more rows to add to it, or save to another file.`;
  return `${rowsInFile} of ${n} rows already in the file; it continues from there.`;
}

/** A `synth` progress event in words: the model loading, then rows, candidates and the time left. */
export function progressInWords(p: ProgressInfo | undefined): string {
  if (!p) return "Starting…";
  if (p.phase === "load") return "Loading the model…";
  const tried = /(\d+) candidates?, (\d+) dropped/.exec(p.message);
  const parts = [`${p.current} of ${p.total ?? "?"} rows written`];
  if (tried) parts.push(`${tried[1]} candidates tried, ${tried[2]} dropped`);
  if (p.total !== null && p.current >= p.total) parts.push("finishing");
  else parts.push(p.eta_s === null ? "time left known after the first row" : `about ${duration(p.eta_s)} left`);
  return parts.join(" · ");
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The final report as sentences: what is in the file now, what was dropped and why. */
export function reportInWords(r: SynthReport): { lines: string[]; verdict: string | null } {
  const dropped = (Object.entries(r.filtered) as [Filter, number][]).filter(([, n]) => n > 0);
  const droppedTotal = dropped.reduce((a, [, n]) => a + n, 0);
  const lines = [
    `${r.rows} of ${r.requested} rows in ${fileName(r.out)}` + (r.resumed ? ` (${r.written} written now, ${r.resumed} there before)` : "") + `, in ${duration(r.elapsed_s)}.`,
    `${plural(r.candidates, "candidate")} tried; ` + (droppedTotal ? `dropped ${dropped.map(([k, n]) => `${n} ${DROPPED_AS[k]}`).join(", ")}.` : "none dropped by the filters."),
    r.duplicates.rows || r.duplicates.seeds
      ? `Near-duplicates left out: ${r.duplicates.rows} of earlier rows` + (r.method === "fewshot" ? `, ${r.duplicates.seeds} of your examples.` : ".")
      : "No near-duplicates.",
    r.eval_prompts ? `Overlaps with the ${plural(r.eval_prompts, "held-out prompt")}: ${r.decontaminated} left out.` : "No held-out prompts were given, so nothing was checked for overlap with them.",
  ];
  if (r.torn_line_removed) lines.push("A half-written last line, left by an interrupted run, was removed first.");
  let verdict: string | null = null;
  if (!r.complete) {
    const worst = dropped.sort((a, b) => b[1] - a[1])[0];
    verdict =
      `Stopped after ${plural(r.candidates, "candidate")} with ${r.rows} of ${r.requested} rows` +
      (worst ? `: most were ${DROPPED_AS[worst[0]]}${worst[0] === "truncated" ? " (allow longer prompts or answers under More options)" : ""}` : "") +
      ". Generate again to go on from there.";
  }
  return { lines, verdict };
}
