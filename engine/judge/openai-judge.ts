/**
 * A judge behind an OpenAI-compatible chat-completions endpoint (llama.cpp's server, Ollama, vLLM,
 * LM Studio …), for a larger local judge. Same prompt, same reading: one completion of one token
 * with `logprobs` and `top_logprobs`, and the verdict distribution is the probability the server
 * gives each verdict's spellings among the top tokens. A server that returns no logprobs is refused
 * with a message saying so (a parsed sentence is not a probability).
 */
import { WhetstoneError } from "../util/errors";
import { normalize, type VerdictWord } from "./prompt";
import type { JudgeMessage, OrderProbs } from "./types";

const TOP = 20;

function matchVerdict(token: string): VerdictWord | null {
  const t = token.trim().toLowerCase();
  return t === "1" ? "1" : t === "2" ? "2" : t === "tie" ? "Tie" : null;
}

/** The chat-completions URL for a base URL such as http://127.0.0.1:8080/v1 (or the full URL). */
export function completionsUrl(url: string): string {
  const u = url.replace(/\/+$/, "");
  return u.endsWith("/chat/completions") ? u : `${u}/chat/completions`;
}

export class OpenAIJudge {
  constructor(
    private readonly url: string,
    private model: string | null,
    private readonly apiKey: string | null,
  ) {}

  private headers(): Record<string, string> {
    return { "content-type": "application/json", ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) };
  }

  /** The model to ask for: the configured one, else the first the server lists. */
  async resolveModel(): Promise<string> {
    if (this.model) return this.model;
    const base = completionsUrl(this.url).replace(/\/chat\/completions$/, "");
    try {
      const res = await fetch(`${base}/models`, { headers: this.headers() });
      const body = (await res.json()) as { data?: { id?: string }[] };
      this.model = body.data?.[0]?.id ?? "default";
    } catch {
      this.model = "default";
    }
    return this.model;
  }

  async judge(messages: JudgeMessage[]): Promise<OrderProbs> {
    const url = completionsUrl(this.url);
    const model = await this.resolveModel();
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: this.headers(),
        body: JSON.stringify({ model, messages, max_tokens: 1, temperature: 0, logprobs: true, top_logprobs: TOP }),
      });
    } catch (e) {
      throw new WhetstoneError({ code: "JUDGE_UNREACHABLE", message: `Cannot reach the judge endpoint ${url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`, hint: "Start the server (llama.cpp `llama-server`, `ollama serve`, vLLM) or fix --judge URL." });
    }
    if (!res.ok) {
      const text = (await res.text()).slice(0, 300);
      throw new WhetstoneError({ code: "JUDGE_ENDPOINT_ERROR", message: `The judge endpoint ${url} answered ${res.status}: ${text}`, hint: "Check the model name (--judge-model) and that the server serves chat completions." });
    }
    const body = (await res.json()) as { choices?: { logprobs?: { content?: { token: string; logprob: number; top_logprobs?: { token: string; logprob: number }[] }[] } | null }[] };
    const first = body.choices?.[0]?.logprobs?.content?.[0];
    if (!first) {
      throw new WhetstoneError({ code: "JUDGE_NO_LOGPROBS", message: `The judge endpoint ${url} returned no logprobs, so the verdict cannot be read as a probability.`, hint: "Use a server that supports `logprobs`/`top_logprobs` on chat completions (llama.cpp server, vLLM, Ollama ≥ 0.12)." });
    }
    const raw: Record<VerdictWord, number> = { "1": 0, "2": 0, Tie: 0 };
    const seen = new Set<string>();
    for (const t of [...(first.top_logprobs ?? []), { token: first.token, logprob: first.logprob }]) {
      if (seen.has(t.token)) continue;
      seen.add(t.token);
      const v = matchVerdict(t.token);
      if (v) raw[v] += Math.exp(t.logprob);
    }
    return normalize(raw);
  }
}
