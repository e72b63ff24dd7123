/**
 * Text comparisons for synthesis: near-duplicate detection (MinHash over word 3-grams, with LSH
 * bands so a new prompt is compared with a handful of earlier ones, not all of them) and
 * decontamination (shared word n-grams with the evaluation prompts, as GPT-3 and Llama did with
 * 13-grams). Both work on words: lower-cased runs of letters and digits, so case, spacing and
 * punctuation do not hide a copy.
 *
 * MinHash estimates the Jaccard similarity of two shingle sets with 64 hash functions; 16 bands of
 * 4 rows make a pair at similarity 0.8 a candidate with probability 1 - (1 - 0.8^4)^16 ≈ 0.9999, at
 * 0.5 with 0.64, and every candidate is then checked against the threshold on the full signature.
 * The trade-off: a prompt of fewer than 3 words has one shingle (itself), so short prompts are
 * duplicates only when equal, and a near-duplicate below ~0.6 similarity may be missed.
 */

/** Lower-cased runs of letters and digits; a text without any (symbols only) is its own one word. */
export function words(text: string): string[] {
  const found = text.toLowerCase().match(/[\p{L}\p{N}]+/gu);
  if (found) return found;
  const bare = text.trim().toLowerCase();
  return bare ? [bare] : [];
}

const HASHES = 64;
const BANDS = 16;
const ROWS = HASHES / BANDS;
/** Fixed odd multipliers: the i-th hash function is fmix32(h ^ SALT[i]). */
const SALT = Array.from({ length: HASHES }, (_, i) => fmix32((i + 1) * 0x9e3779b1));

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function shingles(ws: string[], size = 3): Set<string> {
  if (ws.length <= size) return new Set([ws.join(" ")]);
  const out = new Set<string>();
  for (let i = 0; i + size <= ws.length; i++) out.add(ws.slice(i, i + size).join(" "));
  return out;
}

export function signature(text: string): Uint32Array {
  const sig = new Uint32Array(HASHES).fill(0xffffffff);
  for (const sh of shingles(words(text))) {
    const h = fnv1a(sh);
    for (let i = 0; i < HASHES; i++) {
      const v = fmix32(h ^ SALT[i]!);
      if (v < sig[i]!) sig[i] = v;
    }
  }
  return sig;
}

function similarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < HASHES; i++) if (a[i] === b[i]) same++;
  return same / HASHES;
}

/** Texts seen so far, each tagged with where it came from; `find` answers the tag of a near-duplicate. */
export class NearDuplicates<Tag> {
  private readonly exact = new Map<string, Tag>();
  private readonly sigs: { sig: Uint32Array; tag: Tag }[] = [];
  private readonly bands = new Map<string, number[]>();

  constructor(private readonly threshold: number) {}

  get size(): number {
    return this.sigs.length;
  }

  find(text: string): Tag | null {
    const key = words(text).join(" ");
    const exact = this.exact.get(key);
    if (exact !== undefined) return exact;
    const sig = signature(text);
    const seen = new Set<number>();
    for (const band of bandKeys(sig)) {
      for (const i of this.bands.get(band) ?? []) {
        if (seen.has(i)) continue;
        seen.add(i);
        if (similarity(sig, this.sigs[i]!.sig) >= this.threshold) return this.sigs[i]!.tag;
      }
    }
    return null;
  }

  add(text: string, tag: Tag): void {
    const key = words(text).join(" ");
    if (!this.exact.has(key)) this.exact.set(key, tag);
    const sig = signature(text);
    const index = this.sigs.push({ sig, tag }) - 1;
    for (const band of bandKeys(sig)) {
      const list = this.bands.get(band);
      if (list) list.push(index);
      else this.bands.set(band, [index]);
    }
  }
}

function bandKeys(sig: Uint32Array): string[] {
  const out: string[] = [];
  for (let b = 0; b < BANDS; b++) out.push(`${b}:${Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(",")}`);
  return out;
}

/**
 * The evaluation prompts' word n-grams. A generated prompt overlaps when it shares one; a text
 * shorter than n words is compared whole: it overlaps when its words appear in order inside the
 * other text (under 3 words: only when the two are equal, or "hi" would match everything).
 */
export class Contamination {
  private readonly grams = new Set<string>();
  private readonly short: string[] = [];
  private readonly texts: string[] = [];

  constructor(private readonly n: number, prompts: string[]) {
    for (const p of prompts) {
      const ws = words(p);
      if (ws.length === 0) continue;
      this.texts.push(` ${ws.join(" ")} `);
      if (ws.length < n) this.short.push(ws.join(" "));
      else for (let i = 0; i + n <= ws.length; i++) this.grams.add(ws.slice(i, i + n).join(" "));
    }
  }

  get size(): number {
    return this.texts.length;
  }

  overlaps(text: string): boolean {
    const ws = words(text);
    if (ws.length === 0 || this.texts.length === 0) return false;
    for (let i = 0; i + this.n <= ws.length; i++) if (this.grams.has(ws.slice(i, i + this.n).join(" "))) return true;
    const whole = ` ${ws.join(" ")} `;
    for (const s of this.short) if (s.split(" ").length >= 3 ? whole.includes(` ${s} `) : whole === ` ${s} `) return true;
    if (ws.length < this.n) return this.texts.some((t) => (ws.length >= 3 ? t.includes(whole) : t === whole));
    return false;
  }
}
