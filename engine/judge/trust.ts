/**
 * How far a judge's verdicts can be trusted, from the verdicts themselves (no Node imports: the
 * renderer shows the same figures and warning).
 *
 * Every pair is judged in both orders (prompt.ts). A judge that reads the answers gives the same
 * verdict whichever comes first; a judge that guesses follows the position (or noise), so its verdict
 * flips with the order. Three figures:
 *
 * - position consistency: the share of prompts whose verdict (the most probable of win, loss, tie for
 *   the model) is the same in both orders. Two orders of a coin-flipping judge agree about a third to
 *   a half of the time, so below 60% the averaged verdicts are mostly the judge's position bias.
 * - tie share: the share of prompts whose combined verdict is a tie (a judge that ties everything
 *   says nothing, however consistent).
 * - mean confidence: the probability of the chosen verdict, averaged over prompts and both orders
 *   (1/3: no preference at all; 1: certain). A confident but inconsistent judge is biased, not careful.
 *
 * Trade-off: consistency compares argmax verdicts, so a judge that is 51/49 one way and 49/51 the
 * other counts as inconsistent although its averaged preference is a fair 0.5; mean confidence shows
 * that case (it is then near 1/2).
 */
import type { OrderProbs, PairVerdict } from "./types";

/** Below this position consistency the report and the app warn that the judge is guessing. */
export const CONSISTENCY_WARNING_BELOW = 0.6;

export interface JudgeTrust {
  /** Prompts judged in both orders. */
  n: number;
  /** 0..1: verdict unchanged when the answers swap places. */
  position_consistency: number;
  /** 0..1: prompts whose combined verdict is a tie. */
  tie_share: number;
  /** 1/3..1: probability of the chosen verdict, mean over prompts and orders. */
  mean_confidence: number;
  /** Set when position consistency is below CONSISTENCY_WARNING_BELOW. */
  warning: string | null;
}

type Outcome = "win" | "loss" | "tie";

/** One order's verdict for the model: in the model-first order "1" is a win, in the other a loss. */
function orderVerdict(p: OrderProbs, modelFirst: boolean): Outcome {
  const win = modelFirst ? p.first : p.second;
  const loss = modelFirst ? p.second : p.first;
  return p.tie >= win && p.tie >= loss ? "tie" : win > loss ? "win" : "loss";
}

const confidence = (p: OrderProbs) => Math.max(p.first, p.second, p.tie);

export function judgeTrust(verdicts: readonly Pick<PairVerdict, "verdict" | "orders">[]): JudgeTrust {
  const n = verdicts.length;
  if (n === 0) return { n, position_consistency: NaN, tie_share: NaN, mean_confidence: NaN, warning: null };
  let same = 0;
  let ties = 0;
  let conf = 0;
  for (const v of verdicts) {
    if (orderVerdict(v.orders.model_first, true) === orderVerdict(v.orders.baseline_first, false)) same++;
    if (v.verdict === "tie") ties++;
    conf += (confidence(v.orders.model_first) + confidence(v.orders.baseline_first)) / 2;
  }
  const consistency = same / n;
  return { n, position_consistency: consistency, tie_share: ties / n, mean_confidence: conf / n, warning: trustWarning(consistency, n) };
}

/** The warning shown in reports and the app, or null when the judge is consistent enough. */
export function trustWarning(consistency: number, n: number): string | null {
  if (!(consistency < CONSISTENCY_WARNING_BELOW)) return null;
  const pct = Math.round(100 * consistency);
  return `This judge is guessing: its verdict stayed the same when the two answers swapped places on only ${pct}% of ${n} prompts (below ${Math.round(100 * CONSISTENCY_WARNING_BELOW)}%). Use a larger judge before trusting these win rates.`;
}
