/**
 * grpo's rows: a prompt to sample completions of, and the fields its rewards read. From TRL's
 * prompt-only shape (`prompt`, text or messages, beside any other columns) and from every
 * conversation shape (chat, ShareGPT, Alpaca, prompt/completion): the turns before the last answer
 * are the prompt, and that answer is the field `reference` (unless the row has its own).
 *
 * Every column that is not part of the prompt stays, under its name in the file: a column mapped
 * or read by its name (GSM8K's `answer`, taken as the completion) is still `answer` to a reward,
 * which is how the user sees their data.
 */
import { messageList, normalize, side, type Conversation, type RowCheck } from "./normalize";
import { toolList, withTools } from "./tools";
import { checkPrompt } from "./validate";
import type { PromptSample, SchemaName } from "./types";

/** The fields that make up the prompt, per schema (after column mapping); the rest of a row goes to the rewards. */
const PROMPT_FIELDS: Record<string, readonly string[]> = {
  prompt: ["prompt", "system", "tools"],
  chat: ["messages", "system", "tools"],
  sharegpt: ["conversations", "system", "tools"],
  alpaca: ["instruction", "input", "history", "system"],
  prompt_completion: ["prompt", "system", "tools"],
};

/** The keys of a prompt row in the snapshot (the worker's data/prompts.py PROMPT_KEYS). */
const SNAPSHOT_KEYS = ["prompt", "messages", "tools"];

export function promptSample(rec: Record<string, unknown>, schema: SchemaName, row: RowCheck): PromptSample | null {
  const tools = toolList(row, rec.tools);
  let conv: Conversation | null;
  let listField = "prompt";
  if (schema === "alpaca" || schema === "prompt_completion") {
    // Their conversation, checked as for sft, ends with the answer.
    const s = normalize(rec, schema, row);
    conv = s && "messages" in s ? { messages: s.messages, fields: s.messages.map(() => ({ content: schema === "alpaca" ? "instruction" : "prompt" })) } : null;
  } else {
    const system = row.text(rec.system, "system");
    if (schema === "chat" || schema === "sharegpt") {
      listField = rec.messages !== undefined ? "messages" : "conversations";
      conv = messageList(row, rec[listField], listField, schema);
    } else conv = side(row, rec.prompt, "prompt", "user");
    if (conv && system) {
      if (conv.messages[0]?.role !== "system") {
        conv.messages.unshift({ role: "system", content: system });
        conv.fields.unshift({ content: "system" });
      }
    }
    if (system === null) conv = null;
  }
  if (!conv || tools === null) return null;
  const fields = otherFields(rec, schema, row);
  const last = conv.messages.at(-1);
  if (last?.role === "assistant") {
    conv.messages.pop();
    conv.fields.pop();
    if (!("reference" in fields)) fields.reference = last.content;
  }
  checkPrompt(row, conv.messages, conv.fields, listField);
  return row.failed ? null : withTools({ prompt: conv.messages, fields }, tools);
}

/** The row's columns outside the prompt, by their names in the source. */
function otherFields(rec: Record<string, unknown>, schema: SchemaName, row: RowCheck): Record<string, unknown> {
  const prompt = PROMPT_FIELDS[schema] ?? [];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    const name = row.name(k);
    // The snapshot's row is flat ({prompt, tools, ...fields}): a column named like its prompt keys cannot be a field.
    if (!prompt.includes(k) && v !== undefined && !SNAPSHOT_KEYS.includes(name)) out[name] = v;
  }
  return out;
}
