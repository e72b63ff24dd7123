/**
 * A local judge: any causal LM in the transformers.js folder layout (config.json, tokenizer files,
 * onnx/*.onnx), run with @huggingface/transformers for the tokenizer and chat template and
 * onnxruntime-node for the forward pass. Nothing here touches the network: remote models are
 * switched off and the folder is read from disk.
 *
 * One forward pass per judged order: the rendered prompt (with the generation prompt) goes in with
 * an empty KV cache, and the verdict is the softmax of the last position's logits at the verdict
 * tokens. A verdict word's tokens are the first token of each spelling ("1", " 1", "Tie", "tie",
 * …); a token that starts spellings of two verdicts (a bare space, say) is left out, and a judge
 * whose tokenizer cannot tell the verdicts apart is refused.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { WhetstoneError } from "../util/errors";
import { VERDICTS, normalize, type VerdictWord } from "./prompt";
import type { JudgeMessage, OrderProbs } from "./types";

type Ort = typeof import("onnxruntime-node");
type Tokenizer = {
  apply_chat_template(messages: JudgeMessage[], opts: Record<string, unknown>): unknown;
  encode(text: string, opts?: Record<string, unknown>): number[];
  chat_template?: string | null;
};

/** How each verdict may be spelled as the first token of the answer (the worker's judge.py has the same: tests/fixtures/judge/prompt-v1.json). */
export const SPELLINGS: Record<VerdictWord, string[]> = { "1": ["1", " 1"], "2": ["2", " 2"], Tie: ["Tie", " Tie", "tie", " tie", "TIE"] };

/** The .onnx file of a judge folder: onnx/model.onnx, else the first onnx/model*.onnx (quantized first). */
export function onnxFile(folder: string): string | null {
  const dir = join(folder, "onnx");
  for (const name of ["model.onnx", "model_quantized.onnx", "model_int8.onnx", "model_uint8.onnx", "model_fp16.onnx", "model_q4.onnx"]) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

export class OnnxJudge {
  private constructor(
    private readonly ort: Ort,
    private readonly session: import("onnxruntime-node").InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly config: Record<string, number | undefined>,
    readonly verdictIds: Record<VerdictWord, number[]>,
  ) {}

  static async load(folder: string, file: string): Promise<OnnxJudge> {
    const { AutoTokenizer, env } = await import("@huggingface/transformers");
    env.allowRemoteModels = false;
    let tokenizer: Tokenizer;
    try {
      // The absolute folder, not localModelPath + name: transformers.js treats a name that is not a
      // valid hub id (our cache folders are "<org>--<name>", and "--" is refused) as a path relative
      // to the working directory, and then finds nothing.
      tokenizer = (await AutoTokenizer.from_pretrained(resolve(folder), { local_files_only: true })) as unknown as Tokenizer;
    } catch (e) {
      throw new WhetstoneError({ code: "JUDGE_LOAD_FAILED", message: `Cannot load the judge's tokenizer from ${folder}: ${(e as Error).message}`, hint: "A judge folder needs tokenizer.json and tokenizer_config.json beside config.json." });
    }
    if (!tokenizer.chat_template) {
      throw new WhetstoneError({ code: "JUDGE_NO_TEMPLATE", message: `The judge at ${folder} has no chat template.`, hint: "Use an instruct (chat) model as the judge." });
    }
    const ort = await import("onnxruntime-node");
    const config = JSON.parse(readFileSync(join(folder, "config.json"), "utf8")) as Record<string, number | undefined>;
    let session;
    try {
      // ONNX Runtime's threads spin between operators by default, holding a core while the UI, the
      // engine or a training worker beside it need one: on the tiny judge that took 2.6x the CPU
      // (0.93 against 0.36 CPU-s for 200 verdicts) and more wall time, even on an idle 2-core machine.
      session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], graphOptimizationLevel: "all", extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } });
    } catch (e) {
      throw new WhetstoneError({ code: "JUDGE_LOAD_FAILED", message: `ONNX Runtime cannot load ${file}: ${(e as Error).message}`, hint: "Re-export or re-download the judge model." });
    }
    return new OnnxJudge(ort, session, tokenizer, config, verdictTokens(tokenizer, folder));
  }

  /** Token ids of the rendered judge prompt (with the generation prompt). */
  encode(messages: JudgeMessage[]): number[] {
    let text: string;
    try {
      text = this.tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true }) as string;
    } catch {
      // Some templates (Gemma's) refuse a system turn: fold it into the user turn.
      const [system, ...rest] = messages;
      const merged = rest.map((m, i) => (i === 0 ? { ...m, content: `${system!.content}\n\n${m.content}` } : m));
      text = this.tokenizer.apply_chat_template(merged, { tokenize: false, add_generation_prompt: true }) as string;
    }
    return this.tokenizer.encode(text, { add_special_tokens: false });
  }

  get maxPositions(): number {
    return this.config.max_position_embeddings ?? 4096;
  }

  /** The verdict distribution for one prompt, from one forward pass. */
  async judge(messages: JudgeMessage[]): Promise<OrderProbs> {
    const ids = this.encode(messages);
    const { ort, session, config } = this;
    const n = ids.length;
    const feeds: Record<string, InstanceType<Ort["Tensor"]>> = {};
    const meta = new Map((session.inputMetadata ?? []).map((m) => [m.name, m] as const));
    for (const name of session.inputNames) {
      if (name === "input_ids") feeds[name] = new ort.Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, n]);
      else if (name === "attention_mask") feeds[name] = new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
      else if (name === "position_ids") feeds[name] = new ort.Tensor("int64", BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, n]);
      else if (name.startsWith("past_key_values")) {
        const heads = config.num_key_value_heads ?? config.num_attention_heads!;
        const headDim = config.head_dim ?? config.hidden_size! / config.num_attention_heads!;
        const m = meta.get(name) as { type?: string } | undefined;
        feeds[name] = m?.type === "float16" ? new ort.Tensor("float16", new Uint16Array(0), [1, heads, 0, headDim]) : new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, headDim]);
      } else throw new WhetstoneError({ code: "JUDGE_UNSUPPORTED", message: `The judge's ONNX graph has an input '${name}' Whetstone does not know how to fill.`, hint: "Use a decoder-only text-generation export (inputs input_ids, attention_mask, position_ids, past_key_values.*)." });
    }
    const outputs = await session.run(feeds, ["logits"]);
    const logits = outputs.logits!;
    const vocab = logits.dims.at(-1)!;
    const all = logits.type === "float16" ? halfToFloat(logits.data as Uint16Array) : (logits.data as Float32Array);
    const last = all.subarray(all.length - vocab);
    for (const t of Object.values(outputs)) t.dispose?.();
    return normalize(verdictProbabilities(last, this.verdictIds));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Softmax over the whole vocabulary, summed over each verdict's token ids. */
export function verdictProbabilities(logits: ArrayLike<number>, ids: Record<VerdictWord, number[]>): Record<VerdictWord, number> {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const p = (id: number) => Math.exp(logits[id]! - max) / sum;
  return { "1": ids["1"].reduce((a, id) => a + p(id), 0), "2": ids["2"].reduce((a, id) => a + p(id), 0), Tie: ids.Tie.reduce((a, id) => a + p(id), 0) };
}

function verdictTokens(tokenizer: Tokenizer, folder: string): Record<VerdictWord, number[]> {
  const first = Object.fromEntries(VERDICTS.map((v) => [v, [...new Set(SPELLINGS[v].map((s) => tokenizer.encode(s, { add_special_tokens: false })[0]).filter((x): x is number => x !== undefined))]])) as Record<VerdictWord, number[]>;
  const count = new Map<number, number>();
  for (const v of VERDICTS) for (const id of first[v]) count.set(id, (count.get(id) ?? 0) + 1);
  const ids = Object.fromEntries(VERDICTS.map((v) => [v, first[v].filter((id) => count.get(id) === 1)])) as Record<VerdictWord, number[]>;
  const missing = VERDICTS.filter((v) => ids[v].length === 0);
  if (missing.length) {
    throw new WhetstoneError({ code: "JUDGE_TOKENS", message: `The judge at ${folder} cannot tell the verdicts apart: no token of its own starts ${missing.map((m) => `"${m}"`).join(", ")}.`, hint: "Use another judge model (any instruct model with a usual tokenizer works)." });
  }
  return ids;
}

function halfToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i]!;
    const sign = x & 0x8000 ? -1 : 1;
    const exp = (x >> 10) & 0x1f;
    const frac = x & 0x3ff;
    out[i] = exp === 0 ? sign * 2 ** -14 * (frac / 1024) : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}
