/**
 * The filters a synthesized candidate passes before it is written, in order: empty (a blank prompt or
 * answer), truncated (cut at the token limit), repeated (a degenerate loop) and refusal-shaped (the
 * answer declines). Cheap rules on the text, as Magpie's own filters are before its model-based ones;
 * judging quality is left to a judge (not in this slice).
 */
import type { SynthFilter } from "./schema";
import { words } from "./text";

export interface Candidate {
  index: number;
  prompt: string;
  prompt_finish: "stop" | "length";
  /** null: prompts only, or a prompt the worker did not answer (empty, or truncated without answer_truncated). */
  response: string | null;
  response_finish: "stop" | "length" | null;
}

/**
 * The first filter that drops the candidate, or null when it passes. `answered`: answers were asked
 * for. Empty always applies (a row with nothing in it cannot train); the others when enabled. The
 * worker leaves a prompt cut at the limit unanswered unless asked (answer_truncated), so such a
 * candidate is a truncated one.
 */
export function dropReason(c: Candidate, enabled: ReadonlySet<SynthFilter>, answered: boolean): SynthFilter | null {
  if (!c.prompt.trim()) return "empty";
  if (answered && c.response === null) return "truncated";
  if (answered && !c.response!.trim()) return "empty";
  if (enabled.has("truncated") && (c.prompt_finish === "length" || c.response_finish === "length")) return "truncated";
  if (enabled.has("repeated") && (repetitive(c.prompt) || (c.response !== null && repetitive(c.response)))) return "repeated";
  if (enabled.has("refusal") && c.response !== null && refusal(c.response)) return "refusal";
  return null;
}

/**
 * A degenerate loop: fewer than half of the word 3-grams distinct (over 12 words or more), one
 * character 30 times in a row, or one line of 10+ characters three times.
 */
export function repetitive(text: string): boolean {
  const ws = words(text);
  if (ws.length >= 12) {
    const grams = new Set<string>();
    for (let i = 0; i + 3 <= ws.length; i++) grams.add(`${ws[i]} ${ws[i + 1]} ${ws[i + 2]}`);
    if (grams.size / (ws.length - 2) < 0.5) return true;
  }
  if (/(.)\1{29,}/su.test(text)) return true;
  const lines = new Map<string, number>();
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l.length >= 10)) {
    const seen = (lines.get(line) ?? 0) + 1;
    if (seen >= 3) return true;
    lines.set(line, seen);
  }
  return false;
}

const REFUSAL =
  /^(?:(?:i'?m|i am) (?:so )?sorry|sorry,? (?:but )?i|i apologi[sz]e|unfortunately,? i|as an ai\b|as a language model\b|i (?:cannot|can't|can ?not|won't|will not|am unable to|'m unable to|am not able to|'m not able to|must decline|do not feel comfortable|don't feel comfortable))/i;

/** An answer that opens by declining (the usual English phrasings of aligned models). */
export function refusal(text: string): boolean {
  return REFUSAL.test(text.trim().replace(/[’‘]/g, "'"));
}
