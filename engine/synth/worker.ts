/**
 * The worker's synth command, built in this one place for its two uses: a round's candidates and
 * their answers (rounds.ts), and GLAN's syllabus drafts (syllabus.ts: prompts only, no answers).
 */
import type { ProgressInfo } from "../api/events";
import { runOneShot } from "../models/oneshot";
import type { WorkerEvent } from "../protocol/messages";
import type { WhetstoneError } from "../util/errors";
import type { SynthOptions } from "./schema";
import type { Answerer } from "./select";

export type CandidateEvent = Extract<WorkerEvent, { type: "candidate" }>;

export interface WorkerCandidate {
  index: number;
  kind: "raw" | "chat" | "prompt";
  prefix: string | null;
  temperature: number;
}

/** What a synth command takes from the synthesis around it. */
export interface SynthWorkerContext {
  opts: SynthOptions;
  python?: string;
  env?: NodeJS.ProcessEnv;
  publish: (p: ProgressInfo) => void;
  cancelled: () => WhetstoneError;
}

export interface SynthJob {
  /** The job's name in the worker's log: "synth", "syllabus". */
  label: string;
  answerer: Answerer;
  candidates: WorkerCandidate[];
  /** One per answer each candidate gets. */
  responses: { temperature: number; seed_offset: number }[];
  stopTexts: string[];
  promptTokens: number;
  /** 0: the prompts alone. */
  responseTokens: number;
  answerTruncated: boolean;
  /** What the user does after a failure. */
  retry: string;
}

/** Runs the synth command on the answerer's model; `onCandidate` gets each candidate in index order, and the model's loading is published. */
export async function runSynthWorker(ctx: SynthWorkerContext, job: SynthJob, onCandidate: (e: CandidateEvent) => void, signal?: AbortSignal): Promise<void> {
  await runOneShot(
    job.label,
    (id) => ({
      v: 1,
      type: "synth",
      id,
      model_path: job.answerer.model,
      tuned_path: job.answerer.tuned?.path ?? null,
      tuned_kind: job.answerer.tuned?.kind ?? null,
      candidates: job.candidates,
      responses: job.responses,
      stop_texts: job.stopTexts,
      prompt_tokens: job.promptTokens,
      response_tokens: job.responseTokens,
      answer_truncated: job.answerTruncated,
      top_p: ctx.opts.topP,
      seed: ctx.opts.seed,
    }),
    {
      python: ctx.python,
      env: ctx.env,
      signal,
      onEvent: (e) => e.type === "candidate" && onCandidate(e),
      onProgress: (p) => p.phase === "load" && ctx.publish({ phase: "load", current: p.current, total: p.total, unit: p.unit, elapsed_s: p.elapsed_s, eta_s: p.eta_s, message: p.message }),
    },
    { cancelled: ctx.cancelled(), retry: job.retry },
  );
}
