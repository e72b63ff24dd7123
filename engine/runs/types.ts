import * as z from "zod";
import { ErrorInfoSchema } from "../protocol/messages";

export const RUN_STATES = ["queued", "running", "completed", "failed", "cancelled", "interrupted"] as const;
export type RunState = (typeof RUN_STATES)[number];
export const ACTIVE_STATES: readonly RunState[] = ["queued", "running"];

/** status.json: the one record the CLI and the UI read to know where a run stands. */
export const RunStatusSchema = z.object({
  id: z.string(),
  name: z.string(),
  method: z.string(),
  state: z.enum(RUN_STATES),
  created_at: z.string(),
  updated_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  step: z.number().int().min(0),
  total_steps: z.number().int().min(0).nullable(),
  last_loss: z.number().nullable(),
  first_loss: z.number().nullable(),
  eta_s: z.number().nullable(),
  phase: z.string().nullable(),
  /** pid of the engine process that owns the run while it is queued or running. */
  owner_pid: z.number().int().nullable(),
  worker_pid: z.number().int().nullable(),
  last_checkpoint: z.object({ step: z.number().int(), path: z.string() }).nullable(),
  outputs: z.record(z.string(), z.string()),
  error: ErrorInfoSchema.extend({ details: z.array(z.string()).optional() }).nullable(),
  attempts: z.number().int().min(0),
  /** Names the current queued/running attempt; a cancel request is honoured only for the attempt it names. */
  attempt_id: z.string().nullable().optional(),
  device: z.string().nullable(),
  /** The run whose weights this one started from (config init_from), when chained. */
  parent: z.object({ run: z.string().nullable(), path: z.string(), kind: z.enum(["adapter", "model"]) }).nullable().optional(),
});
export type RunStatus = z.infer<typeof RunStatusSchema>;

/** One logged round of a grpo run (its worker's samples.jsonl): the first prompt's completions and their rewards. */
export const RoundSamplesSchema = z.object({
  round: z.number().int(),
  step: z.number().int(),
  line: z.number().int(),
  prompt: z.string(),
  completions: z.array(z.object({ text: z.string(), reward: z.number().nullable(), rewards: z.record(z.string(), z.number().nullable()) })),
});
export type RoundSamples = z.infer<typeof RoundSamplesSchema>;
