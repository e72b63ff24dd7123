/**
 * The text of each token of a sequence, for showing a sequence token by token. Decoding one token
 * at a time breaks every character whose UTF-8 bytes span several tokens (byte-level BPE splits
 * "’" into three byte tokens: "I���ll"). Instead, as Hugging Face's DecodeStream does, each step
 * decodes a short window of recent tokens and emits only what it adds, holding the text back while
 * it ends in an incomplete character (U+FFFD): the tokens of a split character show nothing and the
 * one that completes it shows the whole character. Decoding a window rather than one token also
 * keeps a SentencePiece token's leading space. The texts joined equal the sequence decoded whole,
 * except where the tokenizer itself rewrites text across a window's edge.
 */
export function tokenTexts(decode: (ids: number[]) => string, ids: ArrayLike<number>): string[] {
  const all = Array.from(ids);
  const out: string[] = new Array(all.length).fill("");
  let prefix = 0;
  let read = 0;
  let before = "";
  for (let i = 0; i < all.length; i++) {
    const now = decode(all.slice(prefix, i + 1));
    if (now.length > before.length && !now.endsWith("\uFFFD")) {
      out[i] = now.slice(before.length);
      prefix = read;
      read = i + 1;
      before = decode(all.slice(prefix, read));
    }
  }
  if (read < all.length) {
    // The sequence ends inside a character (truncation can cut one): show what decodes, replacement mark included.
    out[all.length - 1] = decode(all.slice(prefix)).slice(before.length);
  }
  return out;
}
