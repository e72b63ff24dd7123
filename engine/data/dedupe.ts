/**
 * Duplicate detection in bounded memory: each sample is reduced to a 64-bit key (the first 8
 * bytes of a sha1 of its normalized turns) kept in an open-addressing table of typed arrays, with
 * the file and line of its first occurrence: 16 bytes per sample, about 32 MB per million at the
 * table's load factor. A near-duplicate is a sample identical to an earlier one after lower-casing
 * and dropping everything but letters and digits (so it differs only in case, spacing or
 * punctuation): cheap, exact to state, and it catches the usual copy-paste variants; fuzzier
 * similarity (MinHash) is not attempted.
 */
import { createHash } from "node:crypto";
import type { Sample } from "./types";

export interface FirstSeen {
  file: number;
  line: number;
}

export class KeySet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private file: Uint32Array;
  private line: Uint32Array;
  private size = 0;

  constructor(capacity = 1 << 16) {
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.file = new Uint32Array(capacity);
    this.line = new Uint32Array(capacity);
  }

  /** Insert; returns where the key was first seen if it was already present. */
  add(key: Buffer, at: FirstSeen): FirstSeen | null {
    if ((this.size + 1) * 2 > this.hi.length) this.grow();
    // 0/0 marks an empty slot; a real key of 0/0 is nudged (one in 2^64).
    const hi = key.readUInt32LE(0);
    const lo = key.readUInt32LE(4) || 1;
    const mask = this.hi.length - 1;
    for (let i = (hi ^ (lo * 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      if (this.lo[i] === 0) {
        [this.hi[i], this.lo[i], this.file[i], this.line[i]] = [hi, lo, at.file, at.line];
        this.size++;
        return null;
      }
      if (this.hi[i] === hi && this.lo[i] === lo) return { file: this.file[i]!, line: this.line[i]! };
    }
  }

  /** Forget every key first seen in `file` (used when a file is read again). */
  dropFile(file: number): void {
    const old = { hi: this.hi, lo: this.lo, file: this.file, line: this.line };
    this.hi = new Uint32Array(old.hi.length);
    this.lo = new Uint32Array(old.hi.length);
    this.file = new Uint32Array(old.hi.length);
    this.line = new Uint32Array(old.hi.length);
    this.size = 0;
    for (let i = 0; i < old.hi.length; i++) {
      if (old.lo[i] === 0 || old.file[i] === file) continue;
      const key = Buffer.alloc(8);
      key.writeUInt32LE(old.hi[i]!, 0);
      key.writeUInt32LE(old.lo[i]!, 4);
      this.add(key, { file: old.file[i]!, line: old.line[i]! });
    }
  }

  private grow(): void {
    const old = { hi: this.hi, lo: this.lo, file: this.file, line: this.line };
    const cap = old.hi.length * 2;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.file = new Uint32Array(cap);
    this.line = new Uint32Array(cap);
    this.size = 0;
    const key = Buffer.alloc(8);
    for (let i = 0; i < old.hi.length; i++) {
      if (old.lo[i] === 0) continue;
      key.writeUInt32LE(old.hi[i]!, 0);
      key.writeUInt32LE(old.lo[i]!, 4);
      this.add(key, { file: old.file[i]!, line: old.line[i]! });
    }
  }
}

/** The sample's turns as (role, text) pairs, in order: what both keys are computed over. */
function parts(sample: Sample): [string, string][] {
  // A grpo row: its prompt and the fields its rewards read (two rows asking the same with other answers are two rows).
  if ("fields" in sample) return [...sample.prompt.map((m): [string, string] => [m.role, m.content]), ["fields", JSON.stringify(sample.fields)]];
  if ("label" in sample) return [...sample.messages.map((m): [string, string] => [m.role, m.content]), ["label", String(sample.label)]];
  if ("messages" in sample) return sample.messages.map((m) => [m.role, m.content]);
  if ("text" in sample) return [["text", sample.text]];
  return [...sample.prompt.map((m) => [`prompt:${m.role}`, m.content] as [string, string]), ...sample.chosen.map((m) => [`chosen:${m.role}`, m.content] as [string, string]), ...sample.rejected.map((m) => [`rejected:${m.role}`, m.content] as [string, string])];
}

/** sha1 of the turns (fed piecewise: no JSON string of the sample is built). */
export function exactKey(sample: Sample): Buffer {
  const h = createHash("sha1");
  for (const [role, text] of parts(sample)) h.update(`\u0000${role}\u0001`).update(text);
  return h.digest();
}

/**
 * 64 bits over the turns' letters and digits, lower-cased (ASCII and Latin-1), skipping spaces and
 * punctuation (ASCII, Latin-1, general and CJK punctuation). Two multiply-xor hashes of 32 bits,
 * each finished with murmur3's avalanche; computed in one pass over the char codes, because
 * lower-casing and a Unicode regex over every sample cost more than the rest of validation.
 */
export function nearKey(sample: Sample): Buffer {
  let a = 0x811c9dc5;
  let b = 0x2545f491;
  for (const [role, text] of parts(sample)) {
    for (let i = 0; i < role.length; i++) [a, b] = [Math.imul(a ^ role.charCodeAt(i), 0x01000193), Math.imul(b ^ role.charCodeAt(i), 0x5bd1e995)];
    a = Math.imul(a ^ 0xffff, 0x01000193);
    b = Math.imul(b ^ 0xffff, 0x5bd1e995);
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c < 128) {
        if (c >= 65 && c <= 90) c += 32;
        else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) continue;
      } else if (c <= 0xbf || (c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f)) continue;
      else if (c >= 0xc0 && c <= 0xde && c !== 0xd7) c += 32;
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
  }
  const key = Buffer.allocUnsafe(8);
  key.writeUInt32LE(fmix(a) >>> 0, 0);
  key.writeUInt32LE(fmix(b) >>> 0, 4);
  return key;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class Deduper {
  private readonly exact = new KeySet();
  private readonly near = new KeySet();

  check(sample: Sample, at: FirstSeen): { duplicateOf: FirstSeen | null; nearDuplicateOf: FirstSeen | null } {
    const duplicateOf = this.exact.add(exactKey(sample), at);
    // An exact duplicate is not also reported as a near one.
    const nearDuplicateOf = duplicateOf ? null : this.near.add(nearKey(sample), at);
    return { duplicateOf, nearDuplicateOf };
  }

  dropFile(file: number): void {
    this.exact.dropFile(file);
    this.near.dropFile(file);
  }
}
