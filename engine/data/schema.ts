/**
 * Which schema a record follows, told from its field names (after the user's column mapping), so
 * every row is checked on its own: a file that switches shape halfway is caught at the row where
 * it switches, not inferred from the first rows. When a record is close to a schema but lacks a
 * field (instruction without output), the missing field is named instead of "unknown shape".
 */
import { WhetstoneError } from "../util/errors";
import type { SchemaName } from "./types";

/** Fields a column can be mapped onto; `user`/`assistant`/`question`/`answer` are accepted aliases. */
export const FIELD_TARGETS = ["messages", "conversations", "instruction", "input", "output", "system", "history", "prompt", "completion", "text", "chosen", "rejected", "label", "tools"] as const;
const TARGET_ALIASES: Record<string, string> = { user: "prompt", assistant: "completion", question: "prompt", answer: "completion", response: "completion" };
/** Everything `data.columns` may map a column onto. */
export const COLUMN_TARGETS = [...FIELD_TARGETS, ...Object.keys(TARGET_ALIASES)] as [string, ...string[]];

/** Column names seen in the wild and the field each usually means, for mapping suggestions. */
export const FIELD_ALIASES: Record<string, string> = {
  question: "prompt",
  query: "prompt",
  input_text: "prompt",
  answer: "completion",
  response: "completion",
  output_text: "completion",
  target: "completion",
  system_prompt: "system",
  conversation: "conversations",
  dialog: "messages",
  content: "text",
  document: "text",
};

export const SCHEMA_FIELDS: Record<SchemaName, string> = {
  chat: "messages [{role, content}]",
  sharegpt: "conversations [{from, value}]",
  alpaca: "instruction, input, output",
  prompt_completion: "prompt, completion",
  text: "text",
  preference: "prompt, chosen, rejected",
  unpaired: "messages or prompt/completion, with label true/false",
  prompt: "prompt, and any fields the rewards read",
};

/** A validated column mapping: source column → schema field. */
export function columnMapping(columns: Record<string, string> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const [source, target] of Object.entries(columns ?? {})) {
    const t = TARGET_ALIASES[target] ?? target;
    if (!(FIELD_TARGETS as readonly string[]).includes(t)) {
      throw new WhetstoneError({
        code: "DATA_BAD_MAPPING",
        message: `data.columns maps '${source}' to '${target}', which is not a dataset field`,
        hint: `Map columns onto one of: ${FIELD_TARGETS.join(", ")} (or user/assistant for prompt/completion).`,
        where: "data.columns",
      });
    }
    out.set(source, t);
  }
  return out;
}

/** The record with mapped columns renamed, and for each new name the source column it came from. */
export function applyMapping(rec: Record<string, unknown>, mapping: Map<string, string>): { rec: Record<string, unknown>; source: Map<string, string> } {
  const source = new Map<string, string>();
  if (mapping.size === 0) return { rec, source };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    const target = mapping.get(k);
    if (target !== undefined) {
      out[target] = v;
      source.set(target, k);
    } else if (!(k in out)) out[k] = v;
  }
  return { rec: out, source };
}

export type Detection = { schema: SchemaName } | { schema: null; near?: SchemaName; missing?: string };

/**
 * Column names people use for a schema's fields, applied without a flag when a record matches no
 * schema as it is (llm-foundry's prompt/response, instruction/response CSVs, LLaMA-Factory's
 * chosen_messages). Only a rename that makes the record match a schema is made: `output` stays
 * Alpaca's own field next to `instruction`, and becomes `completion` next to `prompt`.
 */
export function impliedColumns(rec: Record<string, unknown>): Map<string, string> | null {
  const has = (k: string) => rec[k] !== undefined && rec[k] !== null;
  const first = (names: string[]) => names.find(has);
  const out = new Map<string, string>();
  if (!has("chosen") && !has("rejected") && has("chosen_messages") && has("rejected_messages")) {
    out.set("chosen_messages", "chosen").set("rejected_messages", "rejected");
    if (has("prompt_messages") && !has("prompt")) out.set("prompt_messages", "prompt");
  } else if (has("instruction") && !has("output")) {
    const answer = first(["response", "answer", "completion"]);
    if (answer) out.set(answer, "output");
  } else {
    const prompt = has("prompt") ? "prompt" : first(["question", "query"]);
    const answer = has("completion") ? "completion" : first(ANSWER_COLUMNS);
    if (prompt && prompt !== "prompt") out.set(prompt, "prompt");
    if (answer && answer !== "completion" && (prompt || has("label"))) out.set(answer, "completion");
    if (prompt && !answer && has("chosen") && has("rejected")) out.set(prompt, "prompt");
  }
  if (out.size === 0) return null;
  // Never a prompt alone: a lone question column beside others (StackExchange's question, response_j, response_k)
  // is usually a shape that needs a mapping, and a grpo file names its prompt column.
  const schema = detectSchema(applyMapping(rec, out).rec).schema;
  return schema && schema !== "prompt" ? out : null;
}

/** Columns that hold the answer to a prompt under another name (impliedColumns maps them onto completion). */
const ANSWER_COLUMNS = ["response", "output", "answer"];

export function detectSchema(rec: Record<string, unknown>): Detection {
  const has = (k: string) => rec[k] !== undefined && rec[k] !== null;
  if (typeof rec.label === "boolean" && (has("messages") || has("conversations") || (has("prompt") && has("completion")))) return { schema: "unpaired" };
  if (has("chosen") && has("rejected")) return { schema: "preference" };
  if (has("chosen") || has("rejected")) return { schema: null, near: "preference", missing: has("chosen") ? "rejected" : "chosen" };
  for (const key of ["messages", "conversations"]) {
    if (!has(key)) continue;
    const style = messageStyle(rec[key]);
    return { schema: style ?? (key === "messages" ? "chat" : "sharegpt") };
  }
  if (has("instruction") && has("output")) return { schema: "alpaca" };
  if (has("prompt") && has("completion")) return { schema: "prompt_completion" };
  if (has("instruction")) return { schema: null, near: "alpaca", missing: "output" };
  if (has("output") && has("input")) return { schema: null, near: "alpaca", missing: "instruction" };
  // A prompt alone is a grpo row (TRL's prompt-only form), its other fields what the rewards read; beside a
  // column that names an answer it is a prompt/completion row under other names (impliedColumns).
  if (has("prompt")) return ANSWER_COLUMNS.some(has) || typeof rec.label === "boolean" ? { schema: null, near: "prompt_completion", missing: "completion" } : { schema: "prompt" };
  if (has("completion")) return { schema: null, near: "prompt_completion", missing: "prompt" };
  if (has("text")) return { schema: "text" };
  return { schema: null };
}

/** chat ({role, content}) or sharegpt ({from, value}) from the first message that says. */
function messageStyle(list: unknown): SchemaName | null {
  if (!Array.isArray(list)) return null;
  for (const m of list) {
    if (m === null || typeof m !== "object") continue;
    if ("role" in m || "content" in m) return "chat";
    if ("from" in m || "value" in m) return "sharegpt";
  }
  return null;
}
