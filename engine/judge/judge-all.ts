/**
 * Judging a list of pairs with one judge, both orders each: the loop the judge thread runs (and
 * tests run in-process). Progress after every pair with an ETA from the pace so far.
 */
import { WhetstoneError } from "../util/errors";
import { OnnxJudge } from "./onnx-judge";
import { OpenAIJudge } from "./openai-judge";
import { MAX_RESPONSE_CHARS, combine, judgeMessages } from "./prompt";
import type { JudgeMessage, JudgeTarget, OrderProbs, Pair, PairVerdict } from "./types";

export interface JudgeProgress {
  done: number;
  total: number;
  elapsed_s: number;
  eta_s: number | null;
}

export interface Judge {
  judge(messages: JudgeMessage[]): Promise<OrderProbs>;
  /** The messages for a pair that fit the judge's context (responses cut shorter if needed). */
  fit(instruction: string, first: string, second: string): JudgeMessage[];
  dispose(): Promise<void>;
}

export async function openJudge(target: JudgeTarget): Promise<Judge> {
  if (target.kind === "openai") {
    const judge = new OpenAIJudge(target.url, target.model, target.apiKey);
    return { judge: (m) => judge.judge(m), fit: (i, a, b) => judgeMessages(i, a, b), dispose: async () => {} };
  }
  const judge = await OnnxJudge.load(target.path, target.file);
  return {
    judge: (m) => judge.judge(m),
    fit: (instruction, first, second) => {
      for (let limit = MAX_RESPONSE_CHARS; limit >= 16; limit = Math.floor(limit / 2)) {
        const messages = judgeMessages(instruction, first, second, limit);
        if (judge.encode(messages).length <= judge.maxPositions) return messages;
      }
      throw new WhetstoneError({ code: "JUDGE_CONTEXT", message: `The judge's context (${judge.maxPositions} tokens) cannot hold this instruction with two responses.`, hint: "Use a judge with a longer context, or shorter prompts." });
    },
    dispose: () => judge.dispose(),
  };
}

/**
 * `opened`: a judge the caller keeps open across calls (the judge thread's); else one is opened and
 * closed for these pairs. `stopped`: asked before each pair; true ends the judging with CANCELLED.
 */
export async function judgeAll(target: JudgeTarget, pairs: readonly Pair[], onProgress: (p: JudgeProgress) => void, opened?: Judge, stopped?: () => boolean): Promise<PairVerdict[]> {
  const t0 = Date.now();
  const judge = opened ?? (await openJudge(target));
  try {
    const verdicts: PairVerdict[] = [];
    for (const pair of pairs) {
      if (stopped?.()) throw new WhetstoneError({ code: "CANCELLED", message: "Judging was cancelled.", hint: "Run it again." });
      const modelFirst = await judge.judge(judge.fit(pair.instruction, pair.model, pair.baseline));
      const baselineFirst = await judge.judge(judge.fit(pair.instruction, pair.baseline, pair.model));
      verdicts.push(combine(modelFirst, baselineFirst));
      const elapsed = (Date.now() - t0) / 1000;
      onProgress({ done: verdicts.length, total: pairs.length, elapsed_s: elapsed, eta_s: (elapsed / verdicts.length) * (pairs.length - verdicts.length) });
    }
    return verdicts;
  } finally {
    if (!opened) await judge.dispose();
  }
}
