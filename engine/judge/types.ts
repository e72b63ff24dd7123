/** Judge shapes shared by the engine, the judge thread and the API (no Node imports). */
import * as z from "zod";

export interface JudgeMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One order's verdict distribution: Response 1, Response 2, tie; `mass` = their share of all tokens' probability. */
export interface OrderProbs {
  first: number;
  second: number;
  tie: number;
  mass: number;
}

export interface PairVerdict {
  win: number;
  loss: number;
  tie: number;
  /** win + 0.5 · tie: the number the statistics use. */
  preference: number;
  verdict: "win" | "loss" | "tie";
  orders: { model_first: OrderProbs; baseline_first: OrderProbs };
}

/** What to judge: the model's and the baseline's response to one instruction. */
export interface Pair {
  instruction: string;
  model: string;
  baseline: string;
}

/** A judge resolved to something that can run: a local ONNX folder or an OpenAI-compatible endpoint. */
export type JudgeTarget =
  | { kind: "onnx"; path: string; name: string; file: string }
  | { kind: "openai"; url: string; name: string; model: string | null; apiKey: string | null };

export const JudgeInfoSchema = z.looseObject({ kind: z.enum(["onnx", "openai"]), name: z.string(), source: z.string() });
