/**
 * Dataset statistics, accumulated as rows stream by, in bounded memory (token lengths are kept as
 * one uint32 per sample for exact percentiles: 4 MB per million samples). Counts without a
 * tokenizer: samples, messages per conversation, role counts, characters. With the base model's
 * tokenizer: token-length histogram, overlong and untrainable samples, trained tokens, tokens
 * per epoch and, given a throughput, the estimated training time.
 */
import type { TokenizedPair } from "./pairs";
import type { Role, Sample } from "./types";

const TURN_BUCKETS = [1, 2, 3, 4, 6, 8, 16, 32, Infinity];

export interface Bucket {
  /** Inclusive upper bound (null: no bound). */
  le: number | null;
  count: number;
}

export interface TokenStats {
  tokenizer: string;
  template_source: string | null;
  max_length: number;
  overlong: "drop" | "truncate" | "error";
  /** Samples tokenized (every valid sample, or the first `limit`). */
  samples: number;
  /** Token sequences measured: one per conversation, two per preference pair (prompt+chosen,
   *  prompt+rejected); the length figures and the histogram count sequences. */
  sequences: number;
  length: { min: number; mean: number; p50: number; p95: number; max: number };
  histogram: Bucket[];
  over_max_length: number;
  truncated: number;
  dropped_too_long: number;
  dropped_no_trained_tokens: number;
  /** Samples the worker will train on, and their tokens after the overlong policy. */
  kept: number;
  tokens_per_epoch: number;
  trained_tokens_per_epoch: number;
  /** Preference pairs: the trained tokens of each side per epoch (null for other data). */
  pair_sides: { chosen_trained_tokens: number; rejected_trained_tokens: number } | null;
  /** Set when a throughput (tokens/s) was given. */
  estimated_seconds_per_epoch: number | null;
}

export interface DatasetStats {
  rows: number;
  samples: number;
  invalid_rows: number;
  duplicates: number;
  near_duplicates: number;
  by_kind: { chat: number; text: number; preference: number; unpaired: number; prompt: number };
  turns: { min: number; mean: number; max: number; histogram: Bucket[] } | null;
  roles: Record<Role, number>;
  characters: number;
  tokens: TokenStats | null;
}

export class StatsAccumulator {
  rows = 0;
  samples = 0;
  invalid = 0;
  duplicates = 0;
  nearDuplicates = 0;
  readonly byKind = { chat: 0, text: 0, preference: 0, unpaired: 0, prompt: 0 };
  readonly roles: Record<Role, number> = { system: 0, user: 0, assistant: 0, tool: 0 };
  characters = 0;
  private turnsMin = Infinity;
  private turnsMax = 0;
  private turnsSum = 0;
  private readonly turnHist = new Array<number>(TURN_BUCKETS.length).fill(0);
  // Token side.
  private lengths = new Uint32Array(1024);
  private nLengths = 0;
  truncated = 0;
  droppedTooLong = 0;
  droppedNoTrained = 0;
  kept = 0;
  tokensPerEpoch = 0;
  trainedPerEpoch = 0;
  tokenized = 0;
  pairs = 0;
  trainedChosen = 0;
  trainedRejected = 0;

  addSample(s: Sample): void {
    this.samples++;
    const messages = "messages" in s ? s.messages : "text" in s ? null : "fields" in s ? s.prompt : [...s.prompt, ...s.chosen];
    if ("label" in s) this.byKind.unpaired++;
    else if ("fields" in s) this.byKind.prompt++;
    else if ("messages" in s) this.byKind.chat++;
    else if ("text" in s) this.byKind.text++;
    else this.byKind.preference++;
    if (!messages) {
      this.characters += (s as { text: string }).text.length;
      return;
    }
    for (const m of messages) {
      this.roles[m.role]++;
      this.characters += m.content.length;
    }
    const t = messages.length;
    this.turnsMin = Math.min(this.turnsMin, t);
    this.turnsMax = Math.max(this.turnsMax, t);
    this.turnsSum += t;
    this.turnHist[TURN_BUCKETS.findIndex((b) => t <= b)]!++;
  }

  addTokens(length: number, outcome: { truncated: boolean; dropped: "too_long" | "no_trained_tokens" | null; keptTokens: number; trained: number }): void {
    this.tokenized++;
    this.addLength(length);
    if (outcome.truncated) this.truncated++;
    if (outcome.dropped === "too_long") this.droppedTooLong++;
    else if (outcome.dropped === "no_trained_tokens") this.droppedNoTrained++;
    else {
      this.kept++;
      this.tokensPerEpoch += outcome.keptTokens;
      this.trainedPerEpoch += outcome.trained;
    }
  }

  /** A pair: both sides' lengths; kept, dropped and truncated count the pair once (pairs.ts). */
  addPairTokens(p: TokenizedPair): void {
    this.tokenized++;
    this.pairs++;
    this.addLength(p.chosen.length);
    this.addLength(p.rejected.length);
    if (p.truncated) this.truncated++;
    if (p.dropped === "too_long") this.droppedTooLong++;
    else if (p.dropped === "no_trained_tokens") this.droppedNoTrained++;
    else {
      this.kept++;
      this.tokensPerEpoch += p.chosen.ids.length + p.rejected.ids.length;
      this.trainedPerEpoch += p.chosen.nTrained + p.rejected.nTrained;
      this.trainedChosen += p.chosen.nTrained;
      this.trainedRejected += p.rejected.nTrained;
    }
  }

  merge(o: StatsAccumulator): void {
    for (const k of ["rows", "samples", "invalid", "duplicates", "nearDuplicates", "characters", "truncated", "droppedTooLong", "droppedNoTrained", "kept", "tokensPerEpoch", "trainedPerEpoch", "tokenized", "pairs", "trainedChosen", "trainedRejected"] as const) this[k] += o[k];
    for (const k of Object.keys(this.byKind) as (keyof typeof this.byKind)[]) this.byKind[k] += o.byKind[k];
    for (const k of Object.keys(this.roles) as Role[]) this.roles[k] += o.roles[k];
    this.turnsMin = Math.min(this.turnsMin, o.turnsMin);
    this.turnsMax = Math.max(this.turnsMax, o.turnsMax);
    this.turnsSum += o.turnsSum;
    o.turnHist.forEach((c, i) => (this.turnHist[i]! += c));
    for (let i = 0; i < o.nLengths; i++) this.addLength(o.lengths[i]!);
  }

  private addLength(n: number): void {
    if (this.nLengths === this.lengths.length) {
      const bigger = new Uint32Array(this.lengths.length * 2);
      bigger.set(this.lengths);
      this.lengths = bigger;
    }
    this.lengths[this.nLengths++] = n;
  }

  result(token?: { tokenizer: string; templateSource: string | null; maxLength: number; overlong: "drop" | "truncate" | "error"; tokensPerSecond?: number }): DatasetStats {
    const conversations = this.byKind.chat + this.byKind.preference + this.byKind.unpaired + this.byKind.prompt;
    return {
      rows: this.rows,
      samples: this.samples,
      invalid_rows: this.invalid,
      duplicates: this.duplicates,
      near_duplicates: this.nearDuplicates,
      by_kind: { ...this.byKind },
      turns:
        conversations === 0
          ? null
          : {
              min: this.turnsMin,
              mean: round(this.turnsSum / conversations),
              max: this.turnsMax,
              histogram: TURN_BUCKETS.map((le, i) => ({ le: le === Infinity ? null : le, count: this.turnHist[i]! })),
            },
      roles: { ...this.roles },
      characters: this.characters,
      tokens: token ? this.tokenStats(token) : null,
    };
  }

  private tokenStats(t: { tokenizer: string; templateSource: string | null; maxLength: number; overlong: "drop" | "truncate" | "error"; tokensPerSecond?: number }): TokenStats {
    const sorted = this.lengths.slice(0, this.nLengths).sort();
    const n = sorted.length;
    const pct = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))]!);
    const bounds: number[] = [];
    for (let b = 32; b < t.maxLength; b *= 2) bounds.push(b);
    bounds.push(t.maxLength);
    const histogram: Bucket[] = [...bounds.map((le) => ({ le, count: 0 })), { le: null, count: 0 }];
    let sum = 0;
    for (const len of sorted) {
      sum += len;
      const i = bounds.findIndex((b) => len <= b);
      histogram[i < 0 ? bounds.length : i]!.count++;
    }
    return {
      tokenizer: t.tokenizer,
      template_source: t.templateSource,
      max_length: t.maxLength,
      overlong: t.overlong,
      samples: this.tokenized,
      sequences: n,
      length: { min: n ? sorted[0]! : 0, mean: n ? round(sum / n) : 0, p50: pct(0.5), p95: pct(0.95), max: n ? sorted[n - 1]! : 0 },
      histogram,
      over_max_length: histogram.at(-1)!.count,
      truncated: this.truncated,
      dropped_too_long: this.droppedTooLong,
      dropped_no_trained_tokens: this.droppedNoTrained,
      kept: this.kept,
      tokens_per_epoch: this.tokensPerEpoch,
      trained_tokens_per_epoch: this.trainedPerEpoch,
      pair_sides: this.pairs > 0 ? { chosen_trained_tokens: this.trainedChosen, rejected_trained_tokens: this.trainedRejected } : null,
      estimated_seconds_per_epoch: t.tokensPerSecond ? round(this.tokensPerEpoch / t.tokensPerSecond) : null,
    };
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
