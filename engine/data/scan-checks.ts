/**
 * The scan's per-row and per-dataset verdicts that need more than the row itself: token checks
 * against the base model's template (conversations and both sides of a pair, by the worker's
 * rules), which methods the data can train and the mismatch error, the "unknown shape" error with
 * a ready-to-run column mapping, and the counted summaries of issues that are about how many rows
 * have them.
 */
import { makeIssue, type IssueSummary } from "./issues";
import type { Finding } from "./normalize";
import { tokenizePair, type TokenizedPair } from "./pairs";
import { FIELD_ALIASES, SCHEMA_FIELDS } from "./schema";
import { TemplateMismatch, tokenizeChat, type TokenizedChat } from "./segments";
import type { StatsAccumulator } from "./stats";
import type { ChatTokenizer } from "./tokenizer";
import { METHOD_TABLE } from "../config/methods";
import { METHODS_FOR, type DataIssue, type Method, type PromptSample, type Sample, type SampleKind, type SchemaName } from "./types";

const GRPO_DEFAULTS = METHOD_TABLE.grpo.settings;

type At = { file: string; line?: number; row: number; element?: number };

export interface TokenOptions {
  tokenizer: ChatTokenizer;
  maxLength?: number;
  overlong?: "drop" | "truncate" | "error";
  /** grpo: the completion budget the prompt leaves room for (default: grpo's). */
  completionTokens?: number;
}

/** Tokenize a conversation or a pair as training will, adding its figures to `stats` and its problems to `found`. */
export function tokenCheck(sample: Sample, at: At, found: Finding[], stats: StatsAccumulator, opts: TokenOptions): TokenizedChat | TokenizedPair | null {
  const maxLength = opts.maxLength ?? 1024;
  const overlong = opts.overlong ?? "drop";
  if ("text" in sample) return null;
  if ("fields" in sample) return promptTokenCheck(sample, at, found, stats, opts.tokenizer, maxLength, opts.completionTokens ?? GRPO_DEFAULTS.max_completion_tokens, overlong);
  const pair = "chosen" in sample;
  let t: TokenizedChat | TokenizedPair;
  try {
    t = pair ? tokenizePair(opts.tokenizer, sample, maxLength, overlong) : tokenizeChat(opts.tokenizer, sample.messages, maxLength, overlong, sample.tools);
  } catch (e) {
    const why = e instanceof TemplateMismatch ? `the chat template cannot be split into prompt and answer: ${e.message}` : `the chat template rejected it: ${(e as Error).message}`;
    found.push({ issue: makeIssue("DATA_TEMPLATE_ERROR", at, why) });
    return null;
  }
  const what = pair ? "the longer side of the pair has " : "";
  if (t.length > maxLength) {
    const fate = overlong === "truncate" ? `will be truncated to ${maxLength}` : overlong === "drop" ? "will be dropped" : "stops the run (data.overlong: error)";
    found.push({ issue: makeIssue("DATA_TOO_LONG", at, `${what}${t.length} tokens, over max_length ${maxLength}: it ${fate}`, { severity: overlong === "error" ? "error" : "warning" }) });
  }
  if (t.dropped === "no_trained_tokens") {
    const side = pair ? ` on the ${(t as TokenizedPair).chosen.nTrained === 0 ? "chosen" : "rejected"} side` : "";
    found.push({ issue: makeIssue("DATA_NO_TRAINED_TOKENS", at, `no trained (assistant) token${side}${t.truncated ? ` left after truncation to ${maxLength}` : ""}: it will be dropped`) });
  }
  if (pair) stats.addPairTokens(t as TokenizedPair);
  else {
    const c = t as TokenizedChat;
    stats.addTokens(c.length, { truncated: c.truncated, dropped: c.dropped, keptTokens: c.ids.length, trained: c.nTrained });
  }
  return t;
}

/**
 * A grpo prompt as the worker renders it (whetstone_worker/data/prompts.py): with the template's
 * generation prompt, and room left for the completion; a longer one is dropped (truncation would ask
 * another question) or, with overlong error, stops the run. Its tokens are context, none trained.
 */
function promptTokenCheck(sample: PromptSample, at: At, found: Finding[], stats: StatsAccumulator, tok: ChatTokenizer, maxLength: number, completion: number, overlong: "drop" | "truncate" | "error"): TokenizedChat | null {
  let ids: number[];
  try {
    ids = tok.encode([tok.render(sample.prompt, true, sample.tools)])[0]!;
  } catch (e) {
    found.push({ issue: makeIssue("DATA_TEMPLATE_ERROR", at, `the chat template rejected the prompt: ${(e as Error).message}`) });
    return null;
  }
  const room = maxLength - completion;
  const tooLong = ids.length > room;
  if (tooLong) {
    const fate = overlong === "error" ? "stops the run (data.overlong: error)" : "will be dropped";
    found.push({ issue: makeIssue("DATA_TOO_LONG", at, `the prompt has ${ids.length} tokens, over the ${room} that max_length ${maxLength} leaves beside ${completion} completion tokens: it ${fate}`, { severity: overlong === "error" ? "error" : "warning" }) });
  }
  const t: TokenizedChat = { ids: Int32Array.from(ids), trained: new Uint8Array(ids.length), length: ids.length, truncated: false, dropped: tooLong ? "too_long" : null, nTrained: 0 };
  stats.addTokens(t.length, { truncated: false, dropped: t.dropped, keptTokens: t.length, trained: 0 });
  return t;
}

/** The methods a dataset of this kind can train. */
export function methodsFor(kind: SampleKind | null): Method[] {
  return kind ? [...METHODS_FOR[kind]] : [];
}

const WHAT: Record<SampleKind, string> = {
  chat: "conversations",
  preference: "preference pairs (prompt, chosen, rejected)",
  unpaired: "unpaired preference rows (a conversation with label true/false)",
  prompt: "prompts without answers (a prompt field, and the fields rewards read)",
  text: "plain text (a text field, for continued pretraining)",
};

const NEEDS: Record<Method, string> = {
  sft: "conversations (fields messages, conversations, instruction/output or prompt/completion)",
  dpo: "preference pairs: each row needs a prompt and a chosen and a rejected answer",
  simpo: "preference pairs: each row needs a prompt and a chosen and a rejected answer",
  orpo: "preference pairs: each row needs a prompt and a chosen and a rejected answer",
  kto: "rows labelled desirable or not: a conversation (messages, or prompt/completion) with label true/false",
  grpo: "prompts: a prompt field (text or messages) beside the fields your rewards read, or conversations (the turns before the last answer are the prompt)",
};

export function methodMismatch(path: string, schema: SchemaName, kind: SampleKind, method: Method): DataIssue {
  const can = methodsFor(kind);
  const what = kind === "chat" ? `conversations (${schema}: ${SCHEMA_FIELDS[schema]})` : WHAT[kind];
  const fix = can.length ? `This data trains with ${can.join(", ")}; for ${method}, use ${NEEDS[method]}.` : `Nothing trains on plain text yet (continued pretraining is not available); for ${method}, use ${NEEDS[method]}.`;
  return makeIssue("DATA_METHOD_MISMATCH", { file: path, field: SCHEMA_FIELDS[schema] }, `The file holds ${what}, but method ${method} trains on ${NEEDS[method]}`, { hint: fix });
}

/** Stem + side of a column name like response_j / answer_a / output_1 / chosen_response. */
const SIDE = /^(.*?)[_\- ]?(j|k|a|b|0|1|2|chosen|rejected|good|bad|better|worse|preferred|dispreferred)$/i;

/** A `--columns` mapping that would make these fields a known schema, or null. */
export function suggestMapping(keys: string[]): string | null {
  const out: string[] = [];
  const prompt = keys.find((k) => FIELD_ALIASES[k.toLowerCase()] === "prompt");
  if (prompt) out.push(`${prompt}=prompt`);
  const stems = new Map<string, string[]>();
  for (const k of keys) {
    const m = SIDE.exec(k);
    if (m && m[1]) stems.set(m[1].toLowerCase(), [...(stems.get(m[1].toLowerCase()) ?? []), k]);
  }
  const pair = [...stems.values()].find((v) => v.length === 2);
  if (pair) {
    const [first, second] = [...pair].sort();
    out.push(`${first}=chosen`, `${second}=rejected`);
  } else {
    const answer = keys.find((k) => FIELD_ALIASES[k.toLowerCase()] === "completion");
    if (answer) out.push(`${answer}=completion`);
    for (const k of keys) {
      const t = FIELD_ALIASES[k.toLowerCase()];
      if (t && t !== "prompt" && t !== "completion") out.push(`${k}=${t}`);
    }
  }
  return out.length ? out.join(",") : null;
}

export function unknownShape(at: At, value: Record<string, unknown>, d: { near?: SchemaName; missing?: string }, root: string): DataIssue {
  const keys = Object.keys(value);
  if (d.near && d.missing) {
    return makeIssue("DATA_MISSING_FIELD", { ...at, field: d.missing }, `looks like ${d.near} (${SCHEMA_FIELDS[d.near]}) but has no '${d.missing}'`);
  }
  const mapping = suggestMapping(keys);
  const single = keys.length === 2 && ((keys.includes("role") && keys.includes("content")) || (keys.includes("from") && keys.includes("value")));
  const pairGuess = mapping?.includes("=chosen") ? ` (check that ${/([^,=\s]+)=chosen/.exec(mapping)![1]} holds the preferred answer)` : "";
  const issue = makeIssue(
    "DATA_UNKNOWN_SCHEMA",
    at,
    `fields ${keys.length ? keys.map((k) => `'${k}'`).join(", ") : "(none)"}, which match no known dataset shape${single ? " (it is a single message: each record must be a whole conversation)" : ""}${mapping ? `; map them with --columns ${mapping}` : ""}`,
  );
  if (mapping) {
    const yaml = mapping.split(",").map((p) => p.replace("=", ": ")).join(", ");
    issue.hint = `Map the columns: whetstone data check ${quote(root)} --columns ${mapping}${pairGuess} (in a run config: data.columns: {${yaml}}).`;
  }
  return issue;
}

function quote(p: string): string {
  return /^[\w./:@%+-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

/** Summaries of issues that are mostly about how many rows have them. */
export const COUNTED: Record<string, (n: number) => Partial<IssueSummary>> = {
  DATA_TOO_LONG: (n) => ({ message: `${n} sample${n === 1 ? " is" : "s are"} longer than max_length` }),
  DATA_NO_TRAINED_TOKENS: (n) => ({ message: `${n} sample${n === 1 ? " has" : "s have"} no trained token and will be dropped` }),
  DATA_DUPLICATE: (n) => ({ message: `${n} exact duplicate${n === 1 ? "" : "s"}` }),
  DATA_NEAR_DUPLICATE: (n) => ({ message: `${n} near-duplicate${n === 1 ? "" : "s"} (same text up to case, spacing and punctuation)` }),
  DATA_UNDESIRABLE: (n) => ({ message: `${n} row${n === 1 ? " is" : "s are"} labelled false (undesirable answers): sft leaves ${n === 1 ? "it" : "them"} out` }),
  DATA_TOOLS_NOT_RENDERED: (n) => ({ message: `${n} row${n === 1 ? " carries" : "s carry"} tool definitions or tool calls that the model's chat template does not render` }),
};

export function roleSummary(name: string): (n: number, first: DataIssue) => Partial<IssueSummary> {
  return (n, first) => {
    const guess = /; (did you mean .+\?|'.+' usually means \w+)$/.exec(first.message)?.[1];
    return { message: `role '${name}' is not a known role: ${n} row${n === 1 ? "" : "s"}, first at ${where(first)} (${first.field})${guess ? `; ${guess}` : ""}` };
  };
}

export function where(at: { line?: number; row?: number; element?: number }): string {
  if (at.element !== undefined) return `element ${at.element}`;
  return at.line !== undefined ? `line ${at.line}` : `row ${at.row}`;
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return `a ${typeof v}`;
}
