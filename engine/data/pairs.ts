/**
 * Token ids and trained masks of a preference pair, by the worker's own rule (its
 * whetstone_worker/data/pairs.py, mirrored here; the cross-language test holds them together):
 *
 *     each side is the conversation prompt + side, cut into segments by the prefix-diff rule
 *     (segments.ts); the assistant turns inside a multi-turn prompt are context, so the first
 *     `assistant turns in the prompt` trained segments are cleared;
 *     a pair is too long when either side is; truncation cuts both sides;
 *     a pair with no trained token on either side is dropped.
 *
 * The report's token statistics count both sequences of a pair (prompt+chosen and
 * prompt+rejected are two rows of the training batch), and each side's trained tokens.
 */
import { renderSegments, tokenizeSegments, type TokenizedChat } from "./segments";
import type { ChatTokenizer } from "./tokenizer";
import type { Message } from "./types";

export interface TokenizedPair {
  chosen: TokenizedChat;
  rejected: TokenizedChat;
  /** The longer side's length before the overlong policy. */
  length: number;
  truncated: boolean;
  dropped: "too_long" | "no_trained_tokens" | null;
}

export function tokenizeSide(tok: ChatTokenizer, prompt: Message[], side: Message[], tools?: unknown[]): { ids: Int32Array; trained: Uint8Array } {
  const segments = renderSegments(tok, [...prompt, ...side], tools);
  let context = prompt.filter((m) => m.role === "assistant").length;
  for (const seg of segments) {
    if (seg[1] && context > 0) {
      seg[1] = false;
      context--;
    }
  }
  return tokenizeSegments(tok, segments);
}

export function tokenizePair(tok: ChatTokenizer, pair: { prompt: Message[]; chosen: Message[]; rejected: Message[]; tools?: unknown[] }, maxLength: number, overlong: "drop" | "truncate" | "error"): TokenizedPair {
  const sides = [tokenizeSide(tok, pair.prompt, pair.chosen, pair.tools), tokenizeSide(tok, pair.prompt, pair.rejected, pair.tools)];
  const lengths = sides.map((s) => s.ids.length);
  const length = Math.max(...lengths);
  let truncated = false;
  if (length > maxLength) {
    if (overlong !== "truncate") {
      const [chosen, rejected] = sides.map((s, i) => ({ ...s, length: lengths[i]!, truncated: false, dropped: "too_long" as const, nTrained: countTrained(s.trained) }));
      return { chosen: chosen!, rejected: rejected!, length, truncated, dropped: "too_long" };
    }
    for (const s of sides) {
      s.ids = s.ids.slice(0, maxLength);
      s.trained = s.trained.slice(0, maxLength);
    }
    truncated = true;
  }
  const [chosen, rejected] = sides.map((s, i) => {
    const nTrained = countTrained(s.trained);
    return { ...s, length: lengths[i]!, truncated: lengths[i]! > maxLength, dropped: nTrained === 0 ? ("no_trained_tokens" as const) : null, nTrained };
  });
  const dropped = chosen!.nTrained === 0 || rejected!.nTrained === 0 ? "no_trained_tokens" : null;
  return { chosen: chosen!, rejected: rejected!, length, truncated, dropped };
}

function countTrained(trained: Uint8Array): number {
  let n = 0;
  for (let i = 1; i < trained.length; i++) n += trained[i]!;
  return n;
}
