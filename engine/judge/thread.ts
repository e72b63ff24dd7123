/** The judge thread: judges `workerData.pairs` with `workerData.target` and posts progress, then the verdicts. */
import { parentPort, workerData } from "node:worker_threads";
import { judgeAll } from "./judge-all";
import type { JudgeTarget, Pair } from "./types";

const { target, pairs } = workerData as { target: JudgeTarget; pairs: Pair[] };
try {
  const verdicts = await judgeAll(target, pairs, (progress) => parentPort!.postMessage({ type: "progress", progress }));
  parentPort!.postMessage({ type: "result", verdicts });
} catch (e) {
  const err = e as Error & { code?: string; hint?: string };
  parentPort!.postMessage({ type: "error", error: { code: err.code ?? "JUDGE_FAILED", message: err.message, hint: err.hint ?? "This is a bug in Whetstone if it persists." } });
}
