/**
 * Worker protocol v1, TypeScript side (see ./README.md). The Python side mirrors these schemas in
 * engine/worker/whetstone_worker/protocol.py; tests/fixtures/protocol/golden-v1.jsonl keeps the two
 * honest. Events are parsed strictly on the fields we read and loosely on extras (a newer worker
 * may add metrics), so adding a field is compatible and changing one is not.
 */
import * as z from "zod";
import { RunConfigSchema } from "../config/schema";
import { EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS } from "../export/schema";
import { isHubId } from "../models/hub-id";

export const PROTOCOL_VERSION = 1;

const v = z.literal(PROTOCOL_VERSION);
const id = z.string().min(1);
const num = z.number().finite();

export const ErrorInfoSchema = z.object({
  code: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
  message: z.string(),
  hint: z.string(),
  recoverable: z.boolean(),
});
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

const ResolvedConfig = RunConfigSchema.extend({ name: z.string().min(1) });

// Commands: engine → worker.
export const TrainCommand = z.strictObject({ v, type: z.literal("train"), id, run_dir: z.string().min(1), config: ResolvedConfig });
export const ResumeCommand = z.strictObject({ v, type: z.literal("resume"), id, run_dir: z.string().min(1), config: ResolvedConfig });
export const CancelCommand = z.strictObject({ v, type: z.literal("cancel"), id, target: id });
const Message = z.strictObject({ role: z.string().min(1), content: z.string() });
export const GenerateCommand = z.strictObject({
  v,
  type: z.literal("generate"),
  id,
  model_path: z.string().min(1),
  /** The trained weights (null: base only); an adapter is toggled on the base, no second copy. */
  tuned_path: z.string().min(1).nullable(),
  tuned_kind: z.enum(["adapter", "model"]).nullable(),
  sides: z.array(z.enum(["base", "tuned"])).min(1),
  prompts: z.array(z.array(Message).min(1)).min(1),
  max_new_tokens: z.number().int().positive(),
  temperature: z.number().min(0),
  top_p: z.number().gt(0).max(1),
  seed: z.number().int().min(0),
  /** Send a `token` event with each new piece of text. */
  stream: z.boolean(),
});
export const AuditCommand = z.strictObject({
  v,
  type: z.literal("audit"),
  id,
  model_path: z.string().min(1),
  /** The trained weights: a PEFT adapter folder (toggled on the base, no second copy) or a full model folder. */
  tuned_path: z.string().min(1),
  tuned_kind: z.enum(["adapter", "model"]),
  /** The run's normalized data snapshot (JSONL of {messages}). */
  data_path: z.string().min(1),
  samples: z.number().int().positive(),
  prefix_tokens: z.number().int().min(0),
  continuation_tokens: z.number().int().positive(),
  seed: z.number().int().min(0),
  /** A sentence-embedding model folder; null: the default (see the worker's audit module). */
  embedding_model: z.string().min(1).nullable(),
});
export const ExportCommand = z.strictObject({
  v,
  type: z.literal("export"),
  id,
  model_path: z.string().min(1),
  /** The trained weights: a PEFT adapter folder (merged into the base) or a full model folder. */
  tuned_path: z.string().min(1),
  tuned_kind: z.enum(["adapter", "model"]),
  format: z.enum(EXPORT_FORMATS),
  out_dir: z.string().min(1),
  dtype: z.enum(EXPORT_DTYPES),
  /** gguf only: tensor type of the file. */
  quantization: z.enum(GGUF_QUANTIZATIONS).nullable(),
  shard_size_mb: z.number().int().positive(),
  overwrite: z.boolean(),
  /** Facts for the model card (README.md): base, method, hyperparameters, data name and hash, metrics, evaluation. */
  card: z.record(z.string(), z.unknown()),
});
/** One forward+backward+optimizer step at the config's shape on synthetic full rows: the measured peak memory. */
export const PreflightCommand = z.strictObject({ v, type: z.literal("preflight"), id, config: ResolvedConfig });
/** Download a hub repo into the Hugging Face cache (token from the worker's HF_TOKEN environment, never here). */
export const PullCommand = z.strictObject({
  v,
  type: z.literal("pull"),
  id,
  repo_id: z.string().min(1),
  repo_type: z.enum(["model", "dataset"]),
  revision: z.string().min(1).nullable(),
  /** The hub's URL; null: HF_ENDPOINT, else huggingface.co. */
  endpoint: z.string().min(1).nullable(),
  /** The hub cache folder; null: HF_HUB_CACHE, else HF_HOME/hub. */
  cache_dir: z.string().min(1).nullable(),
});
/** Upload an exported folder with its model card to a hub repo (token from the worker's HF_TOKEN environment, never here). */
export const PushCommand = z.strictObject({
  v,
  type: z.literal("push"),
  id,
  /** owner/name; created (private when asked) unless it exists and is the token owner's. */
  repo_id: z.string().refine(isHubId),
  /** The export folder whose files are uploaded (its README.md is replaced by the card rendered for the repo); null with check_only. */
  folder: z.string().min(1).nullable(),
  /** Only the checks (token, owner, visibility), before an export: nothing is created or sent. */
  check_only: z.boolean(),
  private: z.boolean(),
  /** The hub's URL; null: HF_ENDPOINT, else huggingface.co. */
  endpoint: z.string().min(1).nullable(),
  commit_message: z.string().min(1),
  /** Facts for the model card, as for an export. */
  card: z.record(z.string(), z.unknown()),
  /** The export's own facts for the card (its files are read from the folder); null with check_only. */
  export: z
    .strictObject({
      format: z.enum(EXPORT_FORMATS),
      dtype: z.enum(EXPORT_DTYPES),
      quantization: z.enum(GGUF_QUANTIZATIONS).nullable(),
      parameters: z.number().int().min(0),
      checks: z.record(z.string(), z.unknown()),
    })
    .nullable(),
});
export const MergeCommand = z.strictObject({
  v,
  type: z.literal("merge"),
  id,
  model_path: z.string().min(1),
  /** The runs' trained weights; each LoRA adapter is folded into a full delta before merging. */
  sources: z.array(z.strictObject({ path: z.string().min(1), kind: z.enum(["adapter", "model"]) })).min(1),
  /** soup: average of the fine-tuned weights; dare: drop-and-rescale each delta (rate p), then add them. */
  method: z.enum(["soup", "dare"]),
  p: z.number().min(0).lt(1),
  seed: z.number().int().min(0),
  dtype: z.enum(EXPORT_DTYPES),
  shard_size_mb: z.number().int().positive(),
  out_dir: z.string().min(1),
});
/** lm-evaluation-harness on the tuned model and/or its base (one after the other); scores per task, metric and filter. */
export const BenchCommand = z.strictObject({
  v,
  type: z.literal("bench"),
  id,
  model_path: z.string().min(1),
  /** The trained weights: an adapter (HFLM's `peft=` on the base, not merged) or a full model folder; null: base only. */
  tuned_path: z.string().min(1).nullable(),
  tuned_kind: z.enum(["adapter", "model"]).nullable(),
  sides: z.array(z.enum(["tuned", "base"])).min(1),
  /** lm-eval task, group or tag names (or task YAML files). */
  tasks: z.array(z.string().min(1)).min(1),
  /** Documents per task (null: all). */
  limit: z.number().int().positive().nullable(),
  /** Few-shot examples (null: each task's default). */
  num_fewshot: z.number().int().min(0).nullable(),
  /** Render prompts with the model's chat template (lm-eval's apply_chat_template). */
  chat_template: z.boolean(),
  /** Requests per forward pass (null: 8 on CPU and MPS, lm-eval's "auto" on CUDA). */
  batch_size: z.number().int().positive().nullable(),
  /** A folder of custom task YAML files, indexed beside lm-eval's own. */
  include_path: z.string().min(1).nullable(),
});
/**
 * Data synthesis (engine/synth/): each candidate's prompt is written by the model from a raw prefix (null: the
 * model's pre-query template, Magpie) or from a user message through its chat template (kind chat, GLAN), cut
 * at a stop text, or given (kind prompt: only answered); then answered through the chat template once per
 * entry of `responses` (response_tokens 0: not answered). Candidate i samples its prompt with seed + i and
 * its answers with seed + i + each seed offset: the same candidate gives the same text.
 */
export const SynthCommand = z.strictObject({
  v,
  type: z.literal("synth"),
  id,
  model_path: z.string().min(1),
  tuned_path: z.string().min(1).nullable(),
  tuned_kind: z.enum(["adapter", "model"]).nullable(),
  candidates: z.array(z.strictObject({ index: z.number().int().min(0), kind: z.enum(["raw", "chat", "prompt"]), prefix: z.string().min(1).nullable(), temperature: z.number().min(0) })).min(1),
  responses: z.array(z.strictObject({ temperature: z.number().min(0), seed_offset: z.number().int().min(0) })).min(1),
  stop_texts: z.array(z.string().min(1)),
  prompt_tokens: z.number().int().positive(),
  response_tokens: z.number().int().min(0),
  /** Answer prompts cut at prompt_tokens too (false: left unanswered, the engine drops them). */
  answer_truncated: z.boolean(),
  top_p: z.number().gt(0).max(1),
  seed: z.number().int().min(0),
});
export const ShutdownCommand = z.strictObject({ v, type: z.literal("shutdown"), id });

export const CommandSchema = z.discriminatedUnion("type", [TrainCommand, ResumeCommand, CancelCommand, GenerateCommand, AuditCommand, ExportCommand, PreflightCommand, PullCommand, PushCommand, MergeCommand, BenchCommand, SynthCommand, ShutdownCommand]);
export type Command = z.infer<typeof CommandSchema>;

// Events: worker → engine.
export const HelloEvent = z.object({
  v,
  type: z.literal("hello"),
  protocol: z.number().int(),
  worker_version: z.string(),
  pid: z.number().int(),
  python: z.string(),
  packages: z.record(z.string(), z.string()),
  /** null: a worker started for the hub only (a pull, a push: WHETSTONE_NO_DEVICE), which never looks at a device. */
  device: z
    .object({
      kind: z.enum(["cpu", "cuda", "mps"]),
      name: z.string(),
      count: z.number().int().min(0),
      memory_bytes: z.number().nullable(),
      bf16: z.boolean(),
      capability: z.string().nullable(),
    })
    .nullable(),
});
export const ProgressEvent = z.object({
  v,
  type: z.literal("progress"),
  id,
  phase: z.string().min(1),
  current: num,
  total: num.nullable(),
  unit: z.string(),
  elapsed_s: num,
  eta_s: num.nullable(),
  message: z.string(),
});
export const MetricsEvent = z.looseObject({
  v,
  type: z.literal("metrics"),
  id,
  step: z.number().int().min(0),
  total_steps: z.number().int().min(0),
  epoch: num,
  loss: num,
  lr: num,
  grad_norm: num.nullable(),
  tokens: num,
  tokens_per_s: num,
  elapsed_s: num,
  eta_s: num.nullable(),
});
export const CheckpointEvent = z.object({ v, type: z.literal("checkpoint"), id, step: z.number().int().min(0), path: z.string() });
/** `resume`: the checkpoint the job continues from (path null: none verified), and the newer ones skipped and why. */
export const ResumingEvent = z.object({
  v,
  type: z.literal("resuming"),
  id,
  step: z.number().int().min(0),
  path: z.string().nullable(),
  skipped: z.array(z.object({ name: z.string().min(1), reason: z.string() })),
});
export const LogEvent = z.object({
  v,
  type: z.literal("log"),
  id: id.nullable(),
  level: z.enum(["debug", "info", "warning", "error"]),
  message: z.string(),
});
const Side = z.enum(["base", "tuned"]);
export const GenerationEvent = z.object({ v, type: z.literal("generation"), id, index: z.number().int().min(0), side: Side, text: z.string(), tokens: z.number().int().min(0), finish: z.enum(["stop", "length"]) });
/** A streamed piece of one answer (generate with stream: true). */
export const TokenEvent = z.object({ v, type: z.literal("token"), id, index: z.number().int().min(0), side: Side, text: z.string() });
/** One synth candidate: its prompt and, when the prompt was usable (not empty, not cut at the limit), its answer. */
export const CandidateEvent = z.object({
  v,
  type: z.literal("candidate"),
  id,
  index: z.number().int().min(0),
  prompt: z.string(),
  prompt_finish: z.enum(["stop", "length"]),
  prompt_tokens: z.number().int().min(0),
  response: z.string().nullable(),
  response_finish: z.enum(["stop", "length"]).nullable(),
  response_tokens: z.number().int().min(0),
  /** Every answer, one per command `responses` entry (empty when unanswered); `response` is the first. */
  responses: z.array(z.object({ text: z.string(), finish: z.enum(["stop", "length"]), tokens: z.number().int().min(0) })),
});
export const DoneEvent = z.object({ v, type: z.literal("done"), id, status: z.enum(["completed", "cancelled"]), result: z.record(z.string(), z.unknown()) });
export const ErrorEvent = ErrorInfoSchema.extend({ v, type: z.literal("error"), id: id.nullable() });

export const EventSchema = z.discriminatedUnion("type", [
  HelloEvent,
  ProgressEvent,
  MetricsEvent,
  CheckpointEvent,
  ResumingEvent,
  LogEvent,
  GenerationEvent,
  TokenEvent,
  CandidateEvent,
  DoneEvent,
  ErrorEvent,
]);
export type WorkerEvent = z.infer<typeof EventSchema>;
export type Hello = z.infer<typeof HelloEvent>;

/** The device a hello names, as the run's status and logs show it: "cuda: NVIDIA H100 80GB HBM3", or "no device" (a hub-only worker). */
export function helloDevice(hello: Hello): string {
  return hello.device ? `${hello.device.kind}: ${hello.device.name}` : "no device";
}
export type Metrics = z.infer<typeof MetricsEvent>;
export type Progress = z.infer<typeof ProgressEvent>;

export const AnyMessageSchema = z.union([CommandSchema, EventSchema]);

/** Why a line from the worker was not a protocol event, or the event. */
export type ParsedLine = { ok: true; event: WorkerEvent } | { ok: false; reason: string; unknownType?: string };

const KNOWN_EVENTS = new Set(["hello", "progress", "metrics", "checkpoint", "resuming", "log", "generation", "token", "candidate", "done", "error"]);

export function parseEventLine(line: string): ParsedLine {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const type = (raw as { type?: unknown })?.type;
  if (typeof type === "string" && !KNOWN_EVENTS.has(type)) return { ok: false, reason: `unknown event type '${type}'`, unknownType: type };
  const parsed = EventSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { ok: false, reason: `${first?.path.join(".") || "message"}: ${first?.message ?? "invalid"}` };
  }
  return { ok: true, event: parsed.data };
}

export function encodeCommand(command: Command): string {
  return JSON.stringify(CommandSchema.parse(command)) + "\n";
}
