/**
 * Token ids and the trained mask of a conversation, by the worker's own rule (its
 * whetstone_worker/data/chat.py, which this file mirrors line for line; a cross-language test
 * holds them together):
 *
 *     for each assistant message i:
 *         prefix = render(messages[:i], add_generation_prompt=True)
 *         full   = render(messages[:i+1])
 *         the trained text is full[len(prefix):]        (full must start with prefix)
 *
 * The rendering is cut into alternating untrained/trained segments, each segment is tokenized on
 * its own without special tokens, and the pieces are concatenated. Then the overlong policy
 * (drop, truncate, error) and the "no trained token left" rule apply, as in build_samples.
 */
import type { ChatTokenizer } from "./tokenizer";
import type { Message } from "./types";

export type Segment = [text: string, trained: boolean];

export class TemplateMismatch extends Error {}

export function renderSegments(tok: ChatTokenizer, messages: Message[], tools?: unknown[]): Segment[] {
  const whole = tok.render(messages, false, tools);
  const segments: Segment[] = [];
  let cursor = 0;
  for (const [i, m] of messages.entries()) {
    if (m.role !== "assistant") continue;
    const prefix = tok.render(messages.slice(0, i), true, tools);
    const full = tok.render(messages.slice(0, i + 1), false, tools);
    if (!full.startsWith(prefix) || !whole.startsWith(full) || prefix.length < cursor) {
      throw new TemplateMismatch(`rendering message ${i} (assistant) does not extend the rendering of the messages before it`);
    }
    if (prefix.length > cursor) segments.push([whole.slice(cursor, prefix.length), false]);
    if (full.length > prefix.length) segments.push([full.slice(prefix.length), true]);
    cursor = full.length;
  }
  if (cursor < whole.length) segments.push([whole.slice(cursor), false]);
  return segments;
}

export function tokenizeSegments(tok: ChatTokenizer, segments: Segment[]): { ids: Int32Array; trained: Uint8Array } {
  const pieces = tok.encode(segments.map(([text]) => text));
  const n = pieces.reduce((a, p) => a + p.length, 0);
  const ids = new Int32Array(n);
  const trained = new Uint8Array(n);
  let k = 0;
  for (const [j, piece] of pieces.entries()) {
    for (const id of piece) {
      ids[k] = id;
      trained[k++] = segments[j]![1] ? 1 : 0;
    }
  }
  return { ids, trained };
}

export interface TokenizedChat {
  ids: Int32Array;
  trained: Uint8Array;
  /** Length before the overlong policy. */
  length: number;
  truncated: boolean;
  /** Why the worker would leave this sample out, or null when it trains on it. */
  dropped: "too_long" | "no_trained_tokens" | null;
  /** Trained targets (position 0 is never a target), after truncation. */
  nTrained: number;
}

export function tokenizeChat(tok: ChatTokenizer, messages: Message[], maxLength: number, overlong: "drop" | "truncate" | "error", tools?: unknown[]): TokenizedChat {
  let { ids, trained } = tokenizeSegments(tok, renderSegments(tok, messages, tools));
  const length = ids.length;
  let truncated = false;
  if (length > maxLength) {
    if (overlong !== "truncate") return { ids, trained, length, truncated, dropped: "too_long", nTrained: countTrained(trained) };
    ids = ids.slice(0, maxLength);
    trained = trained.slice(0, maxLength);
    truncated = true;
  }
  const nTrained = countTrained(trained);
  return { ids, trained, length, truncated, dropped: nTrained === 0 ? "no_trained_tokens" : null, nTrained };
}

function countTrained(trained: Uint8Array): number {
  let n = 0;
  for (let i = 1; i < trained.length; i++) n += trained[i]!;
  return n;
}
