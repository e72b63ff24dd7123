/**
 * The pairwise judging prompt and how a verdict is read from it.
 *
 * PandaLM's format (arXiv 2306.05087; ALGORITHMS.md): the judge sees an instruction and two
 * responses and answers "1", "2" or "Tie". We do not parse a generated sentence: the verdict is the
 * judge's next-token distribution right after the assistant turn opens, restricted to the verdict
 * tokens, from one forward pass. Every pair is judged in both orders (model first, then baseline
 * first) and the two distributions are averaged after swapping the second back, which cancels the
 * judge's position bias. The preference for the model is P(win) + 0.5 · P(tie); the verdict is the
 * most probable of win, loss and tie.
 */
import type { JudgeMessage, OrderProbs, PairVerdict } from "./types";

export const CRITERIA = ["instruction following", "correctness", "helpfulness", "conciseness", "clarity"] as const;
export const VERDICTS = ["1", "2", "Tie"] as const;
export type VerdictWord = (typeof VERDICTS)[number];

/** Longest response shown to the judge, in characters (the rest is cut with a marker). */
export const MAX_RESPONSE_CHARS = 4000;

export function judgeMessages(instruction: string, first: string, second: string, maxChars = MAX_RESPONSE_CHARS): JudgeMessage[] {
  const cut = (t: string) => (t.length > maxChars ? `${t.slice(0, maxChars)} [… cut]` : t);
  return [
    {
      role: "system",
      content:
        "You are a careful, impartial judge of AI assistant responses. Compare two responses to the same instruction on " +
        `${CRITERIA.join(", ")}. Ignore the order in which they appear and do not prefer a response for being longer. ` +
        'Reply with exactly one of: "1" if Response 1 is better, "2" if Response 2 is better, "Tie" if they are equally good.',
    },
    {
      role: "user",
      content: `### Instruction:\n${instruction}\n\n### Response 1:\n${cut(first)}\n\n### Response 2:\n${cut(second)}\n\n### Which response is better? Answer 1, 2 or Tie.`,
    },
  ];
}

/** Normalize the three verdict probabilities (mass: how much of the distribution they held). */
export function normalize(raw: Record<VerdictWord, number>): OrderProbs {
  const mass = raw["1"] + raw["2"] + raw.Tie;
  if (!(mass > 0)) return { first: 1 / 3, second: 1 / 3, tie: 1 / 3, mass: 0 };
  return { first: raw["1"] / mass, second: raw["2"] / mass, tie: raw.Tie / mass, mass };
}

/** Combine the model-first and baseline-first orders into one verdict for the model. */
export function combine(modelFirst: OrderProbs, baselineFirst: OrderProbs): PairVerdict {
  const win = (modelFirst.first + baselineFirst.second) / 2;
  const loss = (modelFirst.second + baselineFirst.first) / 2;
  const tie = (modelFirst.tie + baselineFirst.tie) / 2;
  const verdict = tie >= win && tie >= loss ? "tie" : win > loss ? "win" : "loss";
  return { win, loss, tie, preference: win + 0.5 * tie, verdict, orders: { model_first: modelFirst, baseline_first: baselineFirst } };
}
