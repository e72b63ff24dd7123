/**
 * Byte-level helpers shared by the text readers: UTF-8 checking with the offset of the first bad
 * byte (node's isUtf8 is the fast path; the scan below runs only on a line already known bad),
 * byte-order marks, and a sha256 + progress tap on the raw stream.
 */
import { isUtf8 } from "node:buffer";
import { createHash, type Hash } from "node:crypto";

export { isUtf8 };

/** Offset of the first byte that is not part of a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [need, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= n) return i;
    let cp = c & (0x3f >> need);
    for (let j = 1; j <= need; j++) {
      const d = b[i + j];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

export type Bom = "utf8" | "utf16le" | "utf16be" | null;

export function detectBom(b: Uint8Array): Bom {
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return "utf8";
  if (b[0] === 0xff && b[1] === 0xfe) return "utf16le";
  if (b[0] === 0xfe && b[1] === 0xff) return "utf16be";
  return null;
}

/** Hashes and counts the raw bytes of a file as a reader streams them. */
export class ByteTap {
  readonly hash: Hash = createHash("sha256");
  bytes = 0;
  constructor(private readonly onBytes?: (n: number) => void) {}
  push(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}
