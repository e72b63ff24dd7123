/**
 * Choosing and running a judge. `--judge` is a local ONNX model folder, an http(s) URL of an
 * OpenAI-compatible server, or nothing (the default model: the user's cached copy, else the copy in
 * a packaged app's installer (bundled.ts), else downloaded once). Judging runs on a
 * worker thread, so the engine (and the Electron main process) stays responsive; progress comes
 * back as messages. A cancel answers at once and asks the thread to stop before its next pair; the
 * thread is never terminated mid-pass (onnxruntime-node then aborts the whole process with an
 * uncaught Napi::Error, seen in a test run). A thread that finished is kept for the next
 * judging for a while (IDLE_THREAD_MS), with its judge loaded: a sweep or a loop of rounds judges
 * again and again with the same judge, and each new thread loaded it anew.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { layout } from "../paths";
import { WhetstoneError } from "../util/errors";
import { bundledJudgeDir, isCompleteCopy } from "./bundled";
import { DEFAULT_JUDGE, ensureJudge, isDownloaded, judgeCacheDir, type DownloadProgress, type JudgeSpec } from "./download";
import { judgeAll, type JudgeProgress } from "./judge-all";
import { onnxFile } from "./onnx-judge";
import type { JudgeTarget, Pair, PairVerdict } from "./types";

export interface JudgeChoice {
  /** Folder, URL, or null for the default. */
  judge: string | null;
  /** Model name to request from an OpenAI-compatible server (default: the first it lists). */
  judgeModel?: string | null;
}

export interface ResolveOptions {
  onDownload?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** The default judge (tests stand the tiny judge in for it). */
  spec?: JudgeSpec;
  /** The installer's copy of the default judge; default: the packaged app's resources (null in a checkout). */
  bundledDir?: string | null;
  /** The hub to download from (default: WHETSTONE_HF_ENDPOINT / HF_ENDPOINT / huggingface.co). */
  endpoint?: string;
}

/** Resolve a judge choice to something runnable: the default judge from the cache, the installer, or a download. */
export async function resolveJudge(choice: JudgeChoice, home: string, opts: ResolveOptions = {}): Promise<JudgeTarget> {
  const spec = choice.judge;
  if (spec && /^https?:\/\//i.test(spec)) {
    return { kind: "openai", url: spec, name: choice.judgeModel ?? spec, model: choice.judgeModel ?? null, apiKey: process.env.WHETSTONE_JUDGE_API_KEY ?? null };
  }
  if (spec) return localTarget(resolve(spec));
  const def = opts.spec ?? DEFAULT_JUDGE;
  const cached = judgeCacheDir(home, def);
  const bundled = opts.bundledDir !== undefined ? opts.bundledDir : bundledJudgeDir(layout(), def);
  if (!isDownloaded(cached) && bundled && isCompleteCopy(bundled, def)) return { ...localTarget(bundled), name: def.repo };
  const folder = await ensureJudge(cached, def, { endpoint: opts.endpoint, onProgress: opts.onDownload, signal: opts.signal });
  return { ...localTarget(folder), name: def.repo };
}

function localTarget(folder: string): JudgeTarget & { kind: "onnx" } {
  if (!existsSync(resolve(folder, "config.json"))) {
    throw new WhetstoneError({ code: "JUDGE_NOT_FOUND", message: `No judge model at ${folder}: config.json is missing.`, hint: "Pass a folder in the transformers.js layout (config.json, tokenizer files, onnx/model.onnx), e.g. one made by `whetstone export RUN --format onnx`." });
  }
  const file = onnxFile(folder);
  if (!file) throw new WhetstoneError({ code: "JUDGE_NOT_FOUND", message: `No ONNX weights in ${folder}/onnx (model.onnx or model_quantized.onnx).`, hint: "Export the model to ONNX (optimum, or `whetstone export --format onnx`) into that layout." });
  return { kind: "onnx", path: folder, name: folder, file };
}

/** How long a judge thread with nothing to do stays, its judge loaded, before it ends. */
const IDLE_THREAD_MS = 30_000;
const idleThreads: { worker: Worker; timer: NodeJS.Timeout }[] = [];
let requests = 0;
let started = 0;

/** How many judge threads this process started, and how many wait idle now. */
export function judgeThreads(): { started: number; idle: number } {
  return { started, idle: idleThreads.length };
}

/** An idle judge thread, or a new one. */
function borrowThread(): Worker {
  const idle = idleThreads.pop();
  if (idle) {
    clearTimeout(idle.timer);
    idle.worker.ref();
    return idle.worker;
  }
  // Found through the layout, not import.meta.url: the Electron main process runs from a bundle elsewhere.
  started += 1;
  return new Worker(layout().judgeThread);
}

/** Back to the idle threads, which never keep the process alive, and end after IDLE_THREAD_MS unused. */
function returnThread(worker: Worker): void {
  worker.unref();
  const timer = setTimeout(() => {
    const at = idleThreads.findIndex((t) => t.worker === worker);
    if (at >= 0) idleThreads.splice(at, 1);
    void worker.terminate();
  }, IDLE_THREAD_MS);
  timer.unref();
  idleThreads.push({ worker, timer });
}

/** Judge every pair in both orders, on a worker thread (or in this thread with `inProcess`). */
export function judgePairs(target: JudgeTarget, pairs: readonly Pair[], opts: { onProgress?: (p: JudgeProgress) => void; signal?: AbortSignal; inProcess?: boolean } = {}): Promise<PairVerdict[]> {
  const cancelled = () => new WhetstoneError({ code: "CANCELLED", message: "Judging was cancelled.", hint: "Run it again." });
  if (opts.signal?.aborted) return Promise.reject(cancelled());
  if (opts.inProcess) return judgeAll(target, pairs, opts.onProgress ?? (() => {}));
  return new Promise((resolvePromise, reject) => {
    const worker = borrowThread();
    const id = ++requests;
    let settled = false;
    /** The caller's answer: once (a cancel answers before the thread has stopped). */
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener("abort", onAbort);
      fn();
    };
    /** The thread's end of this judging: `keep`, it answered and serves the next one; else it is gone or broken. */
    const release = (keep: boolean) => {
      worker.off("message", onMessage).off("error", onError).off("exit", onExit);
      if (keep) returnThread(worker);
      else void worker.terminate();
    };
    const onAbort = () => {
      settle(() => reject(cancelled()));
      worker.postMessage({ type: "cancel", id });
    };
    const onMessage = (m: { type: string; id: number; progress?: JudgeProgress; verdicts?: PairVerdict[]; error?: { code: string; message: string; hint: string } }) => {
      if (m.id !== id) return;
      if (m.type === "progress") {
        if (!settled) opts.onProgress?.(m.progress!);
      } else if (m.type === "result" || m.type === "error") {
        settle(() => (m.type === "result" ? resolvePromise(m.verdicts!) : reject(new WhetstoneError(m.error!))));
        release(true);
      }
    };
    const onError = (e: Error) => {
      settle(() => reject(new WhetstoneError({ code: "JUDGE_FAILED", message: `The judge thread failed: ${e.message}`, hint: "This is a bug in Whetstone if it persists." })));
      release(false);
    };
    const onExit = (code: number) => {
      settle(() => reject(new WhetstoneError({ code: "JUDGE_FAILED", message: `The judge thread exited (code ${code}) without a result.`, hint: "This is a bug in Whetstone if it persists." })));
      release(false);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    worker.on("message", onMessage).on("error", onError).on("exit", onExit);
    worker.postMessage({ type: "judge", id, target, pairs });
  });
}
