/**
 * Role names: each schema's own vocabulary, the user's mapping on top, and for anything else a
 * suggestion (a known alias, or the nearest known name by edit distance) that the report turns
 * into a ready-to-paste mapping. Nothing is guessed silently: an unknown role is an error until
 * the user maps it.
 */
import type { Role } from "./types";
import { closest } from "../util/text";

const CHAT: Record<string, Role> = { system: "system", user: "user", assistant: "assistant", tool: "tool" };
const SHAREGPT: Record<string, Role> = {
  ...CHAT,
  human: "user",
  gpt: "assistant",
  observation: "tool",
  function_call: "assistant",
};
/** Names seen in the wild, offered as suggestions only. */
const ALIASES: Record<string, Role> = {
  ...SHAREGPT,
  model: "assistant",
  bot: "assistant",
  ai: "assistant",
  chatgpt: "assistant",
  bard: "assistant",
  bing: "assistant",
  answer: "assistant",
  response: "assistant",
  question: "user",
  prompt: "user",
  developer: "system",
  function: "tool",
  ipython: "tool",
};

export function roleVocabulary(style: "chat" | "sharegpt"): Record<string, Role> {
  return style === "chat" ? CHAT : SHAREGPT;
}

/** The role for a name: the user's mapping first, then the schema's vocabulary. */
export function resolveRole(name: string, style: "chat" | "sharegpt", mapping: Record<string, string> | undefined): Role | null {
  const mapped = mapping?.[name];
  if (mapped !== undefined) return mapped in CHAT ? (mapped as Role) : null;
  return roleVocabulary(style)[name] ?? null;
}

/** `'human' (user)` style suggestion for an unknown role name, or null. */
export function suggestRole(name: string): { name: string; role: Role } | null {
  const lower = name.toLowerCase().trim();
  if (ALIASES[lower]) return { name: lower, role: ALIASES[lower] };
  const best = closest(lower, Object.keys(ALIASES), 1);
  return best !== undefined ? { name: best, role: ALIASES[best]! } : null;
}
