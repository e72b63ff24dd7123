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
  /** From a list of subjects (GLAN): the user's own copy of the list, or null for the bundled one. */
  taxonomy: { path: string; name: string } | null;
  /** Draft a syllabus for subjects that list their topics too (else their topics are their syllabus). */
  draftAll: boolean;
  /** Answers to each request; 2 or more: the judge keeps the best (or best and worst). */
  answers: string;
  /** Answer temperatures, comma-separated ("0.7, 1.0"). */
  temperatures: string;
  /** Who else answers: the base model (when a run writes), finished runs of the same base (ids). */
  alsoBase: boolean;
  alsoRuns: string[];
  keep: "best" | "pairs";
  minMargin: string;
  /** A local judge folder or an OpenAI-compatible address; "": the default judge. */
  judge: string;
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
  taxonomy: null,
  draftAll: false,
  answers: "1",
  temperatures: "0.7",
  alsoBase: false,
  alsoRuns: [],
  keep: "best",
  minMargin: "0.1",
  judge: "",
};

/**
 * The file rows go to unless the user types another: beside their data when they chose a file
 * (named after the method and what is kept, since a file continues only with the method and the
 * selection that began it), else in the engine's folder, as the Export step's default destination is.
 */
export function defaultOutPath(method: SynthMethod, dataPath: string | null, home: string | null, kept: "one" | "best" | "pairs" = "one"): string {
  const name = `synth-${method}${kept === "one" ? "" : `-${kept}`}.jsonl`;
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

/**
 * What the answers settings amount to: the answer sources (each model × each temperature), and
 * whether the judge chooses (two answers or more), keeping the best or a pair. Numbers that do not
 * parse count as the defaults here; synthRequest says what is wrong with them.
 */
export function answersPlan(form: SynthForm, byRun: boolean): { temperatures: number[] | null; sources: number; answers: number; kept: "one" | "best" | "pairs" } {
  const temperatures = parseTemperatures(form.temperatures);
  const models = 1 + (byRun && form.alsoBase ? 1 : 0) + form.alsoRuns.length;
  const sources = models * (temperatures?.length ?? 1);
  const typed = Number(form.answers.trim());
  const answers = Number.isInteger(typed) && typed >= 1 ? typed : 1;
  const choosing = Math.max(answers, sources) >= 2;
  return { temperatures, sources, answers, kept: choosing ? form.keep : "one" };
}

function parseTemperatures(text: string): number[] | null {
  const parts = text.split(/[,\s]+/).filter(Boolean);
  const values = parts.map(Number);
  return parts.length > 0 && parts.length <= 16 && values.every((t) => Number.isFinite(t) && t >= 0 && t <= 5) ? values : null;
}

/** The request the form makes, or what to fix first (in words, one sentence each). */
export function synthRequest(form: SynthForm, draft: Pick<Draft, "modelPath" | "initFrom" | "dataPath">, home: string | null): { request: SynthRequest | null; problems: string[] } {
  const problems: string[] = [];
  const model = draft.modelPath.trim();
  const byRun = form.writer === "run" && draft.initFrom !== null;
  if (!byRun && !model) problems.push("Choose a base model in step 1 first: it writes the rows.");
  const n = whole(form.rows, "How many rows", 1, 1_000_000, problems);
  const plan = answersPlan(form, byRun);
  const out = (form.out || defaultOutPath(form.method, draft.dataPath, home, plan.kept)).trim();
  if (!out) problems.push("Say where to save the rows.");
  else if (!/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(out)) problems.push("Save the rows to a full path, starting at the top of a disk (like /home/you/data/more.jsonl).");
  else if (!/\.(jsonl|ndjson)$/i.test(out)) problems.push("Save the rows to a .jsonl file: each line is one conversation.");
  if (form.method === "fewshot" && !form.examples) problems.push("Choose a file of your example prompts: the model writes new ones like them.");
  const seed = whole(form.seed, "Seed", 0, Number.MAX_SAFE_INTEGER, problems);
  const k = form.method === "fewshot" ? whole(form.examplesShown, "Examples shown each time", 1, 20, problems) : 0;
  const promptTokens = whole(form.promptTokens, "Longest prompt", 1, 4096, problems);
  const maxNewTokens = whole(form.answerTokens, "Longest answer", 1, 32_768, problems);
  const answers = whole(form.answers, "Answers to each request", 1, 16, problems);
  if (plan.temperatures === null) problems.push("Answer temperatures: numbers from 0 to 5, separated by commas (like 0.7, 1.0).");
  else if (answers >= 1 && answers < plan.sources) problems.push(`Answers to each request: at least ${plan.sources}, one from each model and temperature chosen.`);
  const choosing = plan.kept !== "one";
  const margin = Number(form.minMargin.trim());
  if (choosing && form.keep === "pairs" && (form.minMargin.trim() === "" || !(margin >= 0 && margin <= 1))) problems.push("Smallest score gap: a number from 0 to 1.");
  if (problems.length) return { request: null, problems };
  const temperatures = plan.temperatures!;
  const responders = [...(byRun && form.alsoBase ? [model] : [])];
  return {
    problems,
    request: {
      method: form.method,
      n,
      out,
      ...(byRun ? { run: draft.initFrom!.id } : { model }),
      seed,
      ...(form.method === "fewshot" ? { seeds: form.examples!.path, k } : {}),
      ...(form.method === "glan" && form.taxonomy ? { taxonomy: form.taxonomy.path } : {}),
      ...(form.method === "glan" && form.draftAll ? { syllabus: "draft" as const } : {}),
      promptTokens,
      maxNewTokens,
      filters: ["empty", ...OPTIONAL_FILTERS.map((f) => f.id).filter((id) => form.filters.includes(id))],
      ...(form.heldOut ? { evalPrompts: form.heldOut.path } : {}),
      ...(temperatures.length > 1 ? { responseTemperatures: temperatures } : temperatures[0] !== 0.7 ? { responseTemperature: temperatures[0]! } : {}),
      ...(responders.length ? { responderModels: responders } : {}),
      ...(form.alsoRuns.length ? { responderRuns: form.alsoRuns } : {}),
      ...(choosing
        ? { responses: Math.max(answers, 2), select: form.keep === "pairs" ? ("pairs" as const) : ("sft" as const), ...(form.keep === "pairs" ? { minMargin: margin } : {}), ...(form.judge.trim() ? { judge: form.judge.trim() } : {}) }
        : {}),
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
  const left = p.eta_s === null ? "time left known after the first" : `about ${duration(p.eta_s)} left`;
  if (p.phase === "syllabus") return `Drafting a course syllabus for each subject: ${p.current} of ${p.total ?? "?"} done · ${p.eta_s === null ? `${left} one` : left}`;
  if (p.phase === "judge") return `The judge compares the answers: ${p.current} of ${p.total ?? "?"} pairs · ${p.eta_s === null ? `${left} pairs` : left}`;
  if (p.phase === "download") return "Downloading the judge model (once)…";
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
  if (r.syllabus) lines.push(...syllabusInWords(r.syllabus));
  if (r.selection) lines.push(...selectionInWords(r.selection));
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

function syllabusInWords(y: NonNullable<SynthReport["syllabus"]>): string[] {
  const parts = [y.listed ? `${y.listed} with the topics listed for them` : "", y.drafted ? `${y.drafted} drafted now` : "", y.reused ? `${y.reused} from the syllabus file` : ""].filter(Boolean);
  const lines = [`Course syllabi for ${plural(y.subjects, "subject")} (${parts.join(", ")}): ${plural(y.sessions, "session")}, ${plural(y.concepts, "key concept")}.`];
  if (y.unreadable) lines.push(`${plural(y.unreadable, "syllabus draft")} could not be read, so ${y.unreadable === 1 ? "that subject stands" : "those subjects stand"} on ${y.unreadable === 1 ? "its" : "their"} own; the draft is in ${fileName(y.file ?? "")} for you to fix.`);
  if (y.file) lines.push(`The syllabi are in ${fileName(y.file)}, beside the rows: edit it to steer what comes next; generating again reads it instead of drafting.`);
  return lines;
}

function selectionInWords(s: NonNullable<SynthReport["selection"]>): string[] {
  const sources = [...new Set(s.sources.map((x) => `${x.source === "model" ? "the writing model" : fileName(x.source)} at ${x.temperature}`))];
  const lines = [`The judge compared ${s.responses} answers to each request (${sources.join(", ")}): ${plural(s.judged, "request")}, ${plural(s.pairs_judged, "pair")} of answers, each in both orders.`];
  lines.push(s.select === "pairs" ? "Each row is a preference pair, the best answer against the worst: train it with DPO, SimPO or ORPO." : "Each row keeps the best answer.");
  if (s.too_few_responses) lines.push(`${plural(s.too_few_responses, "request")} had fewer than two usable answers and ${s.too_few_responses === 1 ? "was" : "were"} left out.`);
  if (s.select === "pairs" && s.below_margin) lines.push(`${plural(s.below_margin, "pair")} left out: the best and worst answers scored within ${s.min_margin} of each other.`);
  return lines;
}
