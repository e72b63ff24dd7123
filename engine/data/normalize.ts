/**
 * Every schema into one of its normalized forms: {messages} (chat, ShareGPT, Alpaca,
 * prompt/completion), {text}, {prompt, chosen, rejected} as message lists, {messages, label}
 * (normalize-pairs.ts) or {prompt, fields} (grpo's prompts: normalize-prompts.ts). Problems are
 * reported in the source's own field names (`conversations[2].from`, or the CSV column a field was
 * mapped from), so the user can find them in their file.
 *
 * Alpaca becomes [system?] + history + user(instruction, then input after a blank line) +
 * assistant(output), as in the Stanford Alpaca and LLaMA-Factory converters. A preference pair of
 * message lists without a prompt gets the longest common leading turns of chosen and rejected as
 * its prompt (TRL's implicit-prompt form).
 */
import { makeIssue, type IssueCode } from "./issues";
import { resolveRole, suggestRole } from "./roles";
import { checkConversation, type MessageFields } from "./validate";
import { preference, unpaired } from "./normalize-pairs";
import { promptSample } from "./normalize-prompts";
import { sharegptCall, toolCalls, toolList, withTools } from "./tools";
import type { DataIssue, Location, Message, Role, Sample, SchemaName } from "./types";

export interface Finding {
  issue: DataIssue;
  /** Issues of one code are summarized per group (e.g. per unknown role name). */
  group?: string;
}

export interface NormalizeOptions {
  roles?: Record<string, string>;
  maxFieldChars: number;
  /** Cells are text (CSV/TSV): a list field may hold a JSON array as a string. */
  textCells: boolean;
}

export class RowCheck {
  readonly found: Finding[] = [];
  constructor(
    readonly at: Location,
    readonly opts: NormalizeOptions,
    private readonly source: Map<string, string> = new Map(),
  ) {}

  /** A field path in the source's names: a mapped field shows the column it came from. */
  name(field: string): string {
    const m = /^[^[.]+/.exec(field);
    const head = m?.[0] ?? field;
    const src = this.source.get(head);
    return src === undefined ? field : src + field.slice(head.length);
  }

  add(code: IssueCode, field: string | undefined, message: string, extra: { hint?: string; group?: string; severity?: "error" | "warning" } = {}): void {
    const f = field === undefined ? undefined : this.name(field);
    this.found.push({ issue: makeIssue(code, { ...this.at, field: f }, message, extra), group: extra.group });
  }

  get failed(): boolean {
    return this.found.some((f) => f.issue.severity === "error");
  }

  /** A string field, checked for type and size; null (reported) when it is not usable text. */
  text(value: unknown, field: string, opts: { required?: boolean } = {}): string | null {
    if (value === undefined || value === null) {
      if (opts.required) this.add("DATA_MISSING_FIELD", field, `${this.name(field)} is missing`);
      return opts.required ? null : "";
    }
    if (typeof value !== "string") {
      this.add("DATA_FIELD_TYPE", field, `${this.name(field)} must be text, got ${typeName(value)}`);
      return null;
    }
    return this.sized(value, field);
  }

  /** Message content: a string, or a list of text parts joined (OpenAI's `{type: "text", text}`,
   *  LLaMA-Factory v1's `{type: "text", value}`); a part of another type (an image) is named. */
  content(value: unknown, field: string): string | null {
    if (typeof value === "string") return this.sized(value, field);
    if (Array.isArray(value)) {
      const texts: string[] = [];
      for (const [i, p] of value.entries()) {
        const part = p as { type?: unknown; text?: unknown; value?: unknown } | null;
        const text = part && typeof part === "object" ? (typeof part.text === "string" ? part.text : typeof part.value === "string" ? part.value : null) : null;
        if (part && typeof part === "object" && (part.type === "text" || part.type === undefined) && text !== null) {
          texts.push(text);
          continue;
        }
        const kind = part && typeof part === "object" && typeof part.type === "string" ? `a '${part.type}' part` : typeName(p);
        this.add("DATA_CONTENT_NOT_STRING", `${field}[${i}]`, `${this.name(field)}[${i}] is ${kind}; only text parts can be trained on`, {
          hint: "Whetstone trains text models: remove the non-text parts (images, audio) from the row, or skip the row with --skip-invalid (data.skip_invalid: true).",
        });
        return null;
      }
      return this.sized(texts.join(""), field);
    }
    this.add("DATA_CONTENT_NOT_STRING", field, `${this.name(field)} must be a string, got ${typeName(value)}${value === null ? "" : `: ${preview(value)}`}`);
    return null;
  }

  /** A list field; in CSV/TSV cells, a JSON array written as text. */
  list(value: unknown, field: string): unknown[] | null {
    if (typeof value === "string" && this.opts.textCells && value.trimStart().startsWith("[")) {
      try {
        value = JSON.parse(value);
      } catch {
        this.add("DATA_FIELD_TYPE", field, `${this.name(field)} looks like a JSON list but does not parse`);
        return null;
      }
    }
    if (!Array.isArray(value)) {
      this.add("DATA_FIELD_TYPE", field, `${this.name(field)} must be a list of messages, got ${typeName(value)}`);
      return null;
    }
    return value;
  }

  private sized(s: string, field: string): string | null {
    if (s.length > this.opts.maxFieldChars) {
      this.add("DATA_FIELD_TOO_LARGE", field, `${this.name(field)} has ${s.length.toLocaleString("en-US")} characters, over the limit of ${this.opts.maxFieldChars.toLocaleString("en-US")}`);
      return null;
    }
    return s;
  }
}

/** The row as a sample of its schema; `asPrompt`: as a grpo prompt (conversations give the turns before their answer). */
export function normalize(rec: Record<string, unknown>, schema: SchemaName, row: RowCheck, asPrompt = false): Sample | null {
  if (asPrompt && (schema === "chat" || schema === "sharegpt" || schema === "alpaca" || schema === "prompt_completion")) return promptSample(rec, schema, row);
  switch (schema) {
    case "chat":
    case "sharegpt": {
      const key = rec.messages !== undefined ? "messages" : "conversations";
      const conv = messageList(row, rec[key], key, schema === "chat" ? "chat" : "sharegpt");
      const tools = toolList(row, rec.tools);
      const system = row.text(rec.system, "system");
      if (!conv || tools === null || system === null) return null;
      if (system && conv.messages[0]?.role !== "system") {
        conv.messages.unshift({ role: "system", content: system });
        conv.fields.unshift({ content: "system" });
      }
      checkConversation(row, conv.messages, conv.fields, key);
      return row.failed ? null : withTools({ messages: conv.messages }, tools);
    }
    case "unpaired":
      return unpaired(rec, row);
    case "alpaca":
      return alpaca(rec, row);
    case "prompt_completion":
      return promptCompletion(rec, row);
    case "text": {
      const text = row.text(rec.text, "text", { required: true });
      if (text !== null && text.trim() === "") row.add("DATA_EMPTY_FIELD", "text", "text is empty");
      return row.failed || text === null ? null : { text };
    }
    case "preference":
      return preference(rec, row);
    case "prompt":
      return promptSample(rec, schema, row);
  }
}

export interface Conversation {
  messages: Message[];
  fields: MessageFields[];
}

export function messageList(row: RowCheck, value: unknown, field: string, style: "chat" | "sharegpt"): Conversation | null {
  const list = row.list(value, field);
  if (!list) return null;
  const out: Conversation = { messages: [], fields: [] };
  let ok = true;
  for (const [i, m] of list.entries()) {
    const f = `${field}[${i}]`;
    if (m === null || typeof m !== "object" || Array.isArray(m)) {
      row.add("DATA_FIELD_TYPE", f, `${row.name(f)} must be an object like {"role": ..., "content": ...}, got ${typeName(m)}`);
      ok = false;
      continue;
    }
    const msg = m as Record<string, unknown>;
    const [roleKey, contentKey] = style === "chat" ? ["role", "content"] : ["from", "value"];
    const roleField = `${f}.${roleKey}`;
    const contentField = `${f}.${contentKey}`;
    const roleName = msg[roleKey];
    let role: Role | null = null;
    if (roleName === undefined || roleName === null) row.add("DATA_MISSING_FIELD", roleField, `${row.name(roleField)} is missing`);
    else if (typeof roleName !== "string") row.add("DATA_FIELD_TYPE", roleField, `${row.name(roleField)} must be a string, got ${typeName(roleName)}`);
    else {
      role = resolveRole(roleName, style, row.opts.roles);
      if (!role) unknownRole(row, roleName, roleField, style);
    }
    const calls = style === "chat" ? toolCalls(row, msg.tool_calls, `${f}.tool_calls`) : roleName === "function_call" ? sharegptCall(row, msg[contentKey], contentField) : undefined;
    // An assistant turn that only calls tools has no content (OpenAI writes null).
    const bare = calls && (msg[contentKey] === null || msg[contentKey] === undefined || roleName === "function_call");
    const text = bare ? "" : contentKey in msg ? row.content(msg[contentKey], contentField) : (row.add("DATA_MISSING_FIELD", contentField, `${row.name(contentField)} is missing`), null);
    if (role && text !== null && calls !== null) {
      out.messages.push(calls ? { role, content: text, tool_calls: calls } : { role, content: text });
      out.fields.push({ role: roleField, content: contentField });
    } else ok = false;
  }
  return ok ? out : null;
}

export function unknownRole(row: RowCheck, name: string, field: string, style: "chat" | "sharegpt"): void {
  const s = suggestRole(name);
  const known = style === "chat" ? "system, user, assistant, tool" : "human, gpt, system, observation, function_call, or system, user, assistant, tool";
  const target = s?.role ?? "user";
  const guess = !s ? "" : s.name === name.toLowerCase().trim() ? `; '${name}' usually means ${s.role}` : `; did you mean '${s.name}' (${s.role})?`;
  row.add("DATA_UNKNOWN_ROLE", field, `${row.name(field)} is '${name}', not a known role (${known})${guess}`, {
    group: name,
    hint: `Map it: data.roles: {${JSON.stringify(name)}: ${target}} (CLI: --roles ${name}=${target}).`,
  });
}

export function alpaca(rec: Record<string, unknown>, row: RowCheck): Sample | null {
  const instruction = row.text(rec.instruction, "instruction", { required: true });
  const input = row.text(rec.input, "input");
  const output = row.text(rec.output, "output", { required: true });
  const system = row.text(rec.system, "system");
  const messages: Message[] = [];
  const fields: MessageFields[] = [];
  if (system) {
    messages.push({ role: "system", content: system });
    fields.push({ content: "system" });
  }
  if (rec.history !== undefined && rec.history !== null) {
    const history = row.list(rec.history, "history");
    for (const [i, pair] of (history ?? []).entries()) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        row.add("DATA_FIELD_TYPE", `history[${i}]`, `history[${i}] must be a [question, answer] pair of strings`);
        continue;
      }
      messages.push({ role: "user", content: pair[0] }, { role: "assistant", content: pair[1] });
      fields.push({ content: `history[${i}][0]` }, { content: `history[${i}][1]` });
    }
  }
  if (instruction !== null && instruction.trim() === "" && !input?.trim()) row.add("DATA_EMPTY_FIELD", "instruction", "instruction is empty (and there is no input)");
  if (instruction === null || output === null || input === null || system === null) return null;
  messages.push({ role: "user", content: input.trim() ? `${instruction}\n\n${input}` : instruction }, { role: "assistant", content: output });
  fields.push({ content: "instruction" }, { content: "output" });
  checkConversation(row, messages, fields);
  return row.failed ? null : { messages };
}

export function promptCompletion(rec: Record<string, unknown>, row: RowCheck): Sample | null {
  const system = row.text(rec.system, "system");
  const prompt = side(row, rec.prompt, "prompt", "user");
  const completion = side(row, rec.completion, "completion", "assistant");
  if (!prompt || !completion || system === null) return null;
  const messages = [...(system ? [{ role: "system" as const, content: system }] : []), ...prompt.messages, ...completion.messages];
  const fields = [...(system ? [{ content: "system" }] : []), ...prompt.fields, ...completion.fields];
  if (prompt.messages.length === 1 && prompt.messages[0]!.content.trim() === "") row.add("DATA_EMPTY_FIELD", "prompt", "prompt is empty");
  checkConversation(row, messages, fields);
  return row.failed ? null : { messages };
}

/** A side of a pair: a string (one turn of `role`), one message object, or a message list. */
export function side(row: RowCheck, value: unknown, field: string, role: Role): Conversation | null {
  if (value === undefined || value === null) {
    row.add("DATA_MISSING_FIELD", field, `${row.name(field)} is missing`);
    return null;
  }
  if (typeof value === "string" && !(row.opts.textCells && value.trimStart().startsWith("[{"))) {
    const text = row.text(value, field);
    return text === null ? null : { messages: [{ role, content: text }], fields: [{ content: field }] };
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    // LLaMA-Factory's ShareGPT preference: chosen/rejected are single {from, value} messages.
    const style = "from" in value || "value" in value ? "sharegpt" : "chat";
    const one = messageList(row, [value], field, style);
    if (one) one.fields[0] = { role: `${field}.${style === "chat" ? "role" : "from"}`, content: `${field}.${style === "chat" ? "content" : "value"}` };
    return one;
  }
  if (!Array.isArray(value) && typeof value !== "string") {
    row.add("DATA_FIELD_TYPE", field, `${row.name(field)} must be text or a list of messages, got ${typeName(value)}`);
    return null;
  }
  return messageList(row, value, field, Array.isArray(value) && value.some((m) => m && typeof m === "object" && "from" in m) ? "sharegpt" : "chat");
}

export const sameMessage = (a: Message, b: Message) => a.role === b.role && a.content === b.content;

export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "bigint") return "a number";
  return `a ${typeof v}`;
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x)) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
