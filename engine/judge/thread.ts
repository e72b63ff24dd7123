/**
 * A judge thread: judges the pairs of each request it is sent, one request at a time, and posts its
 * progress, then its verdicts (run.ts lends it to one judging at a time). It keeps the last judge it
 * opened: the next request with the same judge skips loading it (the tokenizer, the ONNX session and,
 * in a checkout, the thread's own TypeScript: ~0.6 CPU-s each time on the tiny judge, seconds on a real one).
 */
import { parentPort } from "node:worker_threads";
import { judgeAll, openJudge, type Judge } from "./judge-all";
import type { JudgeTarget, Pair } from "./types";

let current: { key: string; judge: Judge } | null = null;
/** Requests cancelled while they run: they stop before their next pair. */
const cancelled = new Set<number>();

async function judgeFor(target: JudgeTarget): Promise<Judge> {
  const key = JSON.stringify(target);
  if (current?.key === key) return current.judge;
  const previous = current;
  current = null;
  await previous?.judge.dispose();
  current = { key, judge: await openJudge(target) };
  return current.judge;
}

type Request = { type: "judge"; id: number; target: JudgeTarget; pairs: Pair[] } | { type: "cancel"; id: number };

parentPort!.on("message", async (request: Request) => {
  if (request.type === "cancel") return void cancelled.add(request.id);
  const { id, target, pairs } = request;
  try {
    const verdicts = await judgeAll(target, pairs, (progress) => parentPort!.postMessage({ type: "progress", id, progress }), await judgeFor(target), () => cancelled.has(id));
    parentPort!.postMessage({ type: "result", id, verdicts });
  } catch (e) {
    const err = e as Error & { code?: string; hint?: string };
    parentPort!.postMessage({ type: "error", id, error: { code: err.code ?? "JUDGE_FAILED", message: err.message, hint: err.hint ?? "This is a bug in Whetstone if it persists." } });
  } finally {
    cancelled.delete(id);
  }
});
