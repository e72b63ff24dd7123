/**
 * The rounds' stop rule, on recorded numbers only: a round goes on to the next while it beats the
 * round before it (round 1: the base model, or the finished run the loop started from) by more than the threshold, read as the LC win rate or,
 * stricter, the low end of its 95% CI. A round that does not win is still kept and reported; the
 * best round is the last one that won. ALMA stops its loop the same way, when a round stops
 * improving; the LC rate keeps a round that only answers longer from counting as a win.
 */
import type { Match, Round, RoundsSpec } from "./schema";

export interface Verdict {
  /** Stop after this round. */
  stop: boolean;
  /** Why, in words (null: it goes on). */
  reason: string | null;
  /** Did this round beat its predecessor? */
  won: boolean;
}

const pct = (x: number) => `${x.toFixed(1)}%`;

/** What the rule reads of a round: its matches, and (round 1) whether it started from a finished run rather than the base. */
type Judged = Pick<Round, "index" | "vs_base" | "vs_previous"> & Partial<Pick<Round, "parent_run">>;

/** The match the rule reads: round 1 against the base (or the run the loop started from), later rounds against the round before. */
export function deciding(round: Judged): Match | null {
  return round.index === 1 && !round.parent_run ? round.vs_base : round.vs_previous;
}

export function verdict(round: Judged, spec: Pick<RoundsSpec, "rounds" | "stop_metric" | "stop_threshold">): Verdict {
  const match = deciding(round);
  const against = round.index > 1 ? `round ${round.index - 1}` : round.parent_run ? "the run the rounds started from" : "the base model";
  if (match === null) return { stop: true, won: false, reason: `round ${round.index} has no judged match against ${against}` };
  const value = spec.stop_metric === "lc_win_rate" ? match.lc_win_rate : match.lc_low;
  const what = spec.stop_metric === "lc_win_rate" ? "LC win rate" : "LC win rate's 95% CI low end";
  const figures = `${pct(match.lc_win_rate)} (95% CI ${pct(match.lc_low)}–${pct(match.lc_high)})`;
  if (!(value > spec.stop_threshold)) {
    return { stop: true, won: false, reason: `round ${round.index} stopped winning: its ${what} against ${against} is ${spec.stop_metric === "lc_win_rate" ? figures : `${pct(value)} (LC ${figures})`}, not above ${pct(spec.stop_threshold)}` };
  }
  if (round.index >= spec.rounds) {
    const all = spec.rounds === 1 ? "its one round trained" : spec.rounds === 2 ? "both rounds trained" : `all ${spec.rounds} rounds trained`;
    return { stop: true, won: true, reason: `${all}; the last beat ${against} (LC ${figures})` };
  }
  return { stop: false, won: true, reason: null };
}

/** The last round that won, reading the rounds in order and stopping at the first that did not. */
export function bestRound(rounds: (Judged & Pick<Round, "state">)[], spec: Pick<RoundsSpec, "rounds" | "stop_metric" | "stop_threshold">): number | null {
  let best: number | null = null;
  for (const r of [...rounds].sort((a, b) => a.index - b.index)) {
    if (r.state !== "done") break;
    const v = verdict(r, spec);
    if (!v.won) break;
    best = r.index;
  }
  return best;
}
