/**
 * Tool calling in the shapes datasets use, normalized to what Hugging Face chat templates read:
 * an assistant turn with `tool_calls: [{type: "function", function: {name, arguments}}]`, a `tool`
 * turn with the result, and the sample's `tools` (function schemas) passed to the template as
 * `tools=`.
 *
 * Sources: OpenAI messages (`tool_calls` with `arguments` as a JSON string, a `tool` role),
 * ShareGPT/LLaMA-Factory (`function_call` turns whose value is the JSON call, `observation` turns,
 * and `tools` as a JSON string of schemas). Arguments given as JSON text are parsed into objects,
 * because templates print them with `tojson` and a string would be quoted twice.
 */
import type { RowCheck } from "./normalize";
import type { ToolCall } from "./types";

/** The sample's tool schemas: undefined when absent, null when unusable (reported). */
export function toolList(row: RowCheck, value: unknown): unknown[] | undefined | null {
  if (value === undefined || value === null || value === "") return undefined;
  let v = value;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      row.add("DATA_FIELD_TYPE", "tools", `${row.name("tools")} is text that is not JSON; it must be a list of function schemas (or that list as JSON text)`);
      return null;
    }
  }
  if (v && typeof v === "object" && !Array.isArray(v)) v = [v];
  if (!Array.isArray(v) || !v.every((t) => t && typeof t === "object" && !Array.isArray(t))) {
    row.add("DATA_FIELD_TYPE", "tools", `${row.name("tools")} must be a list of function schemas ({"name": ..., "parameters": ...})`);
    return null;
  }
  return v.length ? v : undefined;
}

/** OpenAI `tool_calls` of one message: undefined when absent, null when unusable (reported). */
export function toolCalls(row: RowCheck, value: unknown, field: string): ToolCall[] | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    row.add("DATA_FIELD_TYPE", field, `${row.name(field)} must be a list of calls, got ${typeof value}`);
    return null;
  }
  const out: ToolCall[] = [];
  for (const [i, c] of value.entries()) {
    const fn = c && typeof c === "object" ? ((c as { function?: unknown }).function ?? c) : null;
    const call = fn && typeof fn === "object" ? callOf(fn as Record<string, unknown>) : null;
    if (!call) {
      row.add("DATA_FIELD_TYPE", `${field}[${i}]`, `${row.name(field)}[${i}] must be {"type": "function", "function": {"name": ..., "arguments": ...}}`);
      return null;
    }
    out.push(call);
  }
  return out.length ? out : undefined;
}

/** A ShareGPT `function_call` turn's value: one call (or a list) as JSON text. */
export function sharegptCall(row: RowCheck, value: unknown, field: string): ToolCall[] | null {
  let v = value;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      row.add("DATA_FIELD_TYPE", field, `${row.name(field)} is a function_call turn, but its value is not JSON like {"name": ..., "arguments": {...}}`);
      return null;
    }
  }
  const list = Array.isArray(v) ? v : [v];
  const calls = list.map((c) => (c && typeof c === "object" ? callOf(c as Record<string, unknown>) : null));
  if (calls.length === 0 || calls.some((c) => c === null)) {
    row.add("DATA_FIELD_TYPE", field, `${row.name(field)} is a function_call turn, but its value is not a call like {"name": ..., "arguments": {...}}`);
    return null;
  }
  return calls as ToolCall[];
}

function callOf(fn: Record<string, unknown>): ToolCall | null {
  if (typeof fn.name !== "string" || fn.name === "") return null;
  let args = fn.arguments ?? fn.parameters ?? {};
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      // Not JSON: the template receives the text as it is.
    }
  }
  return { type: "function", function: { name: fn.name, arguments: args } };
}

export function withTools<T extends object>(sample: T, tools: unknown[] | undefined): T & { tools?: unknown[] } {
  return tools?.length ? { ...sample, tools } : sample;
}

export function hasToolCalls(messages: { tool_calls?: unknown[] }[]): boolean {
  return messages.some((m) => m.tool_calls && m.tool_calls.length > 0);
}
