/**
 * Choosing and running a judge. `--judge` is a local ONNX model folder, an http(s) URL of an
 * OpenAI-compatible server, or nothing (the default model: the user's cached copy, else the copy in
 * a packaged app's installer (bundled.ts), else downloaded once). Judging runs on a
 * worker thread, so the engine (and the Electron main process) stays responsive; progress comes
 * back as messages and cancel terminates the thread.
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

/** Judge every pair in both orders, on a worker thread (or in this thread with `inProcess`). */
export function judgePairs(target: JudgeTarget, pairs: readonly Pair[], opts: { onProgress?: (p: JudgeProgress) => void; signal?: AbortSignal; inProcess?: boolean } = {}): Promise<PairVerdict[]> {
  const cancelled = () => new WhetstoneError({ code: "CANCELLED", message: "Judging was cancelled.", hint: "Run it again." });
  if (opts.signal?.aborted) return Promise.reject(cancelled());
  if (opts.inProcess) return judgeAll(target, pairs, opts.onProgress ?? (() => {}));
  return new Promise((resolvePromise, reject) => {
    // Found through the layout, not import.meta.url: the Electron main process runs from a bundle elsewhere.
    const worker = new Worker(layout().judgeThread, { workerData: { target, pairs } });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener("abort", onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () => finish(() => reject(cancelled()));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    worker.on("message", (m: { type: string; progress?: JudgeProgress; verdicts?: PairVerdict[]; error?: { code: string; message: string; hint: string } }) => {
      if (m.type === "progress") opts.onProgress?.(m.progress!);
      else if (m.type === "result") finish(() => resolvePromise(m.verdicts!));
      else if (m.type === "error") finish(() => reject(new WhetstoneError(m.error!)));
    });
    worker.on("error", (e) => finish(() => reject(new WhetstoneError({ code: "JUDGE_FAILED", message: `The judge thread failed: ${e.message}`, hint: "This is a bug in Whetstone if it persists." }))));
    worker.on("exit", (code) => finish(() => reject(new WhetstoneError({ code: "JUDGE_FAILED", message: `The judge thread exited (code ${code}) without a result.`, hint: "This is a bug in Whetstone if it persists." }))));
  });
}
