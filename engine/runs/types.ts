import * as z from "zod";
import { ErrorInfoSchema } from "../protocol/messages";

export const RUN_STATES = ["queued", "running", "completed", "failed", "cancelled", "interrupted"] as const;
export type RunState = (typeof RUN_STATES)[number];
export const ACTIVE_STATES: readonly RunState[] = ["queued", "running"];

/**
 * Several machines training one run (engine/supervisor/launcher.ts): how many, which one this is, and
 * where they meet (node 0). A run records its own (node_rank 0: node 0 holds the run), so a resume
 * launches it the same way.
 */
export const NodesSchema = z.strictObject({
  nnodes: z.number().int(),
  node_rank: z.number().int(),
  master_addr: z.string(),
  master_port: z.number().int(),
});
export type Nodes = z.infer<typeof NodesSchema>;
/** The nodes as a request gives them: only the count is required (rank 0 and torchrun's port by default). */
export const NodesInputSchema = NodesSchema.partial().required({ nnodes: true });
export type NodesInput = z.infer<typeof NodesInputSchema>;

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
  /** A run on several machines: the nodes it was created with (resume launches it the same way); absent: this machine alone. */
  nodes: NodesSchema.nullable().optional(),
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
