/**
 * The run config: defined once, here. The CLI (YAML/JSON files), the HTTP API and the wizard all
 * produce this object; the worker receives it resolved (every default filled in, paths absolute)
 * and stores it in every checkpoint. Each field carries its help text, which `whetstone config`
 * prints and the README's reference is checked against.
 */
import * as z from "zod";
import { FORMATS, ROLES, SCHEMAS } from "../data/types";
import { COLUMN_TARGETS } from "../data/schema";
import { GRPO_LOSS_TYPES, GRPO_SCALE_REWARDS, METHODS } from "./methods";

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

export const ModelSchema = z.strictObject({
  path: z.string().min(1).describe("Base model: a local folder with config.json, weights and tokenizer."),
  dtype: z
    .enum(["auto", "float32", "bfloat16", "float16"])
    .default("auto")
    .describe("Dtype the base weights are loaded in. auto: bfloat16 where the device supports it, else float32."),
  trust_remote_code: z
    .boolean()
    .default(false)
    .describe("Run Python code shipped with the model. Off by default: it executes code from the model's authors."),
});

export const DataSchema = z.strictObject({
  train: z
    .string()
    .min(1)
    .describe("Training data: a file (.jsonl, .json, .csv, .tsv, .parquet; JSON Lines, JSON and CSV also gzip-, zstd-, bzip2- or xz-compressed) or a folder of them (shards read in name order); chat messages, ShareGPT, Alpaca or prompt/completion rows, preference pairs for dpo/simpo/orpo, rows labelled true/false for kto, or prompts (and the fields your rewards read) for grpo."),
  validation: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .describe("Held-out conversations (same format) for the validation loss; null: split them from train with validation_split."),
  validation_split: z
    .number()
    .min(0)
    .max(0.5)
    .default(0)
    .describe("Fraction of train conversations held out for validation (seeded by training.seed, by conversation content). 0: none."),
  max_length: int(16, 1_048_576).default(1024).describe("Longest sample in tokens after the chat template."),
  overlong: z
    .enum(["truncate", "drop", "error"])
    .default("drop")
    .describe("What to do with samples longer than max_length: drop them (counted), truncate them, or stop with an error."),
  format: z.enum(FORMATS).optional().describe("File format of train/validation (default: from the extension, checked against the content)."),
  schema: z.enum(SCHEMAS).optional().describe("Row schema (default: detected per row): chat, sharegpt, alpaca, prompt_completion, text, preference, unpaired, prompt."),
  columns: z
    .record(z.string(), z.enum(COLUMN_TARGETS))
    .optional()
    .describe("Rename source columns to dataset fields, e.g. {question: prompt, answer: completion}."),
  roles: z.record(z.string(), z.enum(ROLES)).optional().describe("Map role names to roles, e.g. {human: user, bot: assistant}."),
  skip_invalid: z.boolean().optional().describe("Train on the valid rows and list the invalid ones in the run's data manifest, instead of refusing the data."),
  dedupe: z.boolean().optional().describe("Keep only the first copy of exact duplicate samples."),
});

export const LORA_VARIANTS = ["lora", "dora", "rslora"] as const;
export const FINETUNES = ["lora", "qlora", "full"] as const;

export const LoraSchema = z.strictObject({
  r: int(1, 4096).default(16).describe("LoRA rank."),
  alpha: z.number().positive().default(32).describe("LoRA scaling numerator (the update is scaled by alpha / r)."),
  dropout: z.number().min(0).max(0.9).default(0).describe("Dropout on the LoRA input."),
  target_modules: z
    .union([z.literal("all-linear"), z.array(z.string().min(1)).min(1)])
    .default("all-linear")
    .describe("Modules that get adapters: 'all-linear' or a list of module names such as [q_proj, v_proj]."),
  variant: z
    .enum(LORA_VARIANTS)
    .default("lora")
    .describe("lora: plain LoRA. dora: weight-decomposed LoRA (DoRA, arXiv 2402.09353): a learned magnitude per output row on top of the low-rank direction; often closer to full fine-tuning at the same rank, ~1.3x slower steps. rslora: rank-stabilised scaling alpha/sqrt(r) instead of alpha/r (arXiv 2312.03732), which keeps higher ranks learning."),
});

export const GoldfishSchema = z.strictObject({
  k: int(2, 1024).default(4).describe("Drop about 1 in k trained tokens from the loss."),
  h: int(1, 32)
    .default(13)
    .describe("hashed variant: context width, the h token ids ending at a position pick whether it is dropped. At most 32: the key is an int64 product of the ids, as in the authors' code, and wraps to 0 beyond that."),
  variant: z
    .enum(["hashed", "static", "random"])
    .default("hashed")
    .describe("hashed: the paper's hashed-context mask (same text, same dropped tokens, wherever it appears); static: every k-th token; random: seeded random."),
});

export const TrainingSchema = z.strictObject({
  epochs: z.number().positive().max(1000).default(1).describe("Passes over the training data (fractions allowed)."),
  max_steps: int(1).nullable().default(null).describe("Stop after this many optimizer steps (overrides epochs when set)."),
  micro_batch_size: int(1, 4096).default(4).describe("Samples per forward pass. Lower it if you run out of memory."),
  gradient_accumulation: int(1, 4096).default(1).describe("Micro-batches per optimizer step. Effective batch = micro_batch_size × this."),
  learning_rate: z.number().positive().max(1).default(2e-4).describe("Peak learning rate of AdamW."),
  weight_decay: z.number().min(0).max(1).default(0).describe("AdamW decoupled weight decay."),
  adam_beta1: z.number().min(0).lt(1).default(0.9).describe("AdamW beta1."),
  adam_beta2: z.number().min(0).lt(1).default(0.999).describe("AdamW beta2."),
  adam_epsilon: z.number().positive().max(1).default(1e-8).describe("AdamW epsilon."),
  scheduler: z
    .enum(["cosine", "linear", "wsd", "constant"])
    .default("cosine")
    .describe("Learning-rate schedule after warmup: cosine or linear decay, warmup-stable-decay, or constant."),
  warmup_ratio: z.number().min(0).max(1).default(0.03).describe("Fraction of steps spent warming up linearly from 0."),
  decay_ratio: z.number().min(0).max(1).default(0.2).describe("wsd only: fraction of steps spent in the final decay."),
  min_lr_ratio: z.number().min(0).max(1).default(0).describe("Learning rate at the end of decay, as a fraction of the peak."),
  max_grad_norm: z.number().positive().nullable().default(1).describe("Clip the gradient norm to this value (null: no clipping)."),
  seed: int(0, 2 ** 32 - 1).default(42).describe("Seed for data order, initialisation and noise. Same seed, same run."),
  precision: z
    .enum(["auto", "bf16", "fp16", "fp32"])
    .default("auto")
    .describe("Compute precision. auto: bf16 autocast where supported (CUDA with bf16), else fp32."),
  gradient_checkpointing: z.boolean().default(false).describe("Recompute activations in the backward pass: less memory, ~30% slower."),
  neftune_alpha: z
    .number()
    .min(0)
    .max(100)
    .default(5)
    .describe("NEFTune: uniform noise of scale alpha/sqrt(length·dim) on the input embeddings while training (0 turns it off). Paper values 5–15."),
  goldfish: GoldfishSchema.nullable()
    .default(null)
    .describe("Goldfish loss against verbatim memorization: {} for the defaults (hashed, k 4, h 13), null for off."),
  packing: z
    .boolean()
    .default(true)
    .describe("Pack several samples per row with attention kept inside each sample: no compute spent on padding."),
  chunked_loss: z
    .boolean()
    .default(true)
    .describe("Cross-entropy from the hidden states in chunks of 1,024 trained tokens: never the full-vocabulary fp32 logits of the batch. Same loss and gradients; off: the model's own logits."),
  compile: z.boolean().default(false).describe("torch.compile each decoder layer: faster steps after a compile of a minute or more (CUDA; needs a C++ compiler on CPU)."),
  liger: z.boolean().default(false).describe("Liger-Kernel Triton kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy) when installed; CUDA only."),
  activation_offload: z.boolean().default(false).describe("Keep saved activations in pinned CPU memory between forward and backward: less GPU memory, slower."),
  checkpoint_every: int(1).default(100).describe("Write a resumable checkpoint every N optimizer steps (and always at the end)."),
  keep_checkpoints: int(2, 1000).default(2).describe("Checkpoints kept on disk (at least 2, so a crash while writing one leaves another)."),
  devices: z
    .union([z.literal("auto"), int(1, 64)])
    .optional()
    .describe("Processes that train the run together, one per GPU (torchrun; gloo on a CPU): each takes its share of every step's micro-batches, so the global batch is the same; 'auto': every GPU of this machine. Default 1. sft, dpo, simpo and orpo so far. LoRA replicates the model on each; a full fine-tune is sharded (FSDP2), so each GPU holds 1/N of the weights, gradients and optimizer state."),
  threads: int(1, 1024)
    .optional()
    .describe("CPU threads the training's PyTorch uses (its math on a CPU, its data and host work on a GPU). Default: PyTorch's, every core. A sweep that trains several trials at once on a CPU splits the cores between them."),
});

export { PAIR_METHODS, PREFERENCE_FIELDS, PREFERENCE_METHODS } from "./methods";

export const PreferenceSchema = z.strictObject({
  beta: z.number().min(0).max(100).nullable().optional().describe("dpo, simpo, kto: reward scale β (> 0). grpo: weight of the KL penalty to the starting model (0: no KL term and no reference model). Defaults: dpo 0.1 (paper), simpo 2.0 (paper's range 2–10), kto 0.1 (paper), grpo 0.04 (DeepSeekMath)."),
  label_smoothing: z.number().min(0).lt(0.5).nullable().optional().describe("dpo: conservative-DPO label smoothing ε (0: the plain sigmoid loss)."),
  gamma_beta_ratio: z.number().min(0).max(10).nullable().optional().describe("simpo: target reward margin γ as a fraction of β (γ = ratio·β); paper 0.3–0.8, default 0.5."),
  lambda: z.number().positive().max(100).nullable().optional().describe("orpo: weight λ of the odds-ratio term added to the SFT loss (paper 0.1)."),
  desirable_weight: z.number().positive().max(100).nullable().optional().describe("kto: weight λ_D of the rows labelled true (default 1). With unequal counts the paper keeps λ_D·n_D / (λ_U·n_U) between 1 and 4/3."),
  undesirable_weight: z.number().positive().max(100).nullable().optional().describe("kto: weight λ_U of the rows labelled false (default 1)."),
  precompute_reference: z
    .boolean()
    .nullable()
    .optional()
    .describe("dpo: compute the reference log-probs once before training instead of every step (one pass over the data; full fine-tuning then needs no frozen copy). Default false."),
  num_generations: int(2, 256).nullable().optional().describe("grpo: completions sampled per prompt, the group whose rewards are compared (G; default 8). Each micro-batch holds micro_batch_size prompts × G completions."),
  max_completion_tokens: int(1, 1_048_576).nullable().optional().describe("grpo: longest completion sampled, in tokens (default 256); prompts get data.max_length minus this."),
  temperature: z.number().positive().max(10).nullable().optional().describe("grpo: sampling temperature of the completions (default 1.0: the policy's own distribution)."),
  top_p: z.number().positive().max(1).nullable().optional().describe("grpo: nucleus sampling of the completions (default 1.0: off)."),
  epsilon: z.number().positive().max(1).nullable().optional().describe("grpo: clip range ε of the policy ratio, below 1 (default 0.2)."),
  epsilon_high: z.number().positive().max(10).nullable().optional().describe("grpo: clip range above 1 (default: the same as epsilon; DAPO raises it to 0.28 so rare tokens can grow)."),
  num_iterations: int(1, 64).nullable().optional().describe("grpo: optimizer steps on each round of sampled completions (μ; default 1). Above 1 the later steps are off-policy and the clip bounds them."),
  loss_type: z.enum(GRPO_LOSS_TYPES).nullable().optional().describe("grpo: how token losses are averaged. grpo: per completion, then over completions (the paper); dr_grpo: summed and divided by completions × max_completion_tokens, no length bias (Dr. GRPO, arXiv 2503.20783); bnpo: over all tokens of the batch. Default grpo."),
  scale_rewards: z.enum(GRPO_SCALE_REWARDS).nullable().optional().describe("grpo: divide each advantage by the std of the rewards of its group (group, the paper), of the whole batch (batch), or not at all (none: Dr. GRPO). Default group."),
});

/** grpo's loss variants and advantage scalings (the worker's losses/grpo.py LOSS_TYPES and SCALE_REWARDS). */
export { GRPO_LOSS_TYPES, GRPO_SCALE_REWARDS } from "./methods";

const weight = z.number().min(-100).max(100).default(1).describe("Weight of this reward in the sum (negative: a penalty).");
const field = z.string().min(1).describe("The data field that holds the expected answer, by its name in your file (e.g. answer).");
const pattern = z.string().min(1).describe("A Python regular expression; its first group (or the whole match), last match in the completion, is the answer.");

/** grpo's rewards: each scores every sampled completion; a completion's reward is the weighted sum. */
export const RewardSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("exact_match").describe("1 when the answer extracted from the completion equals the row's field, else 0."),
    field,
    pattern: pattern.optional(),
    case_sensitive: z.boolean().default(false).describe("Compare case as well (default: case-insensitive)."),
    weight,
  }),
  z.strictObject({
    type: z.literal("numeric").describe("1 when the number extracted from the completion equals the row's field within tolerance, else 0."),
    field,
    pattern: pattern.optional(),
    tolerance: z.number().min(0).default(1e-6).describe("Largest absolute difference that still counts as equal."),
    weight,
  }),
  z.strictObject({ type: z.literal("format").describe("1 when the pattern matches the completion (re.search), else 0."), pattern, weight }),
  z.strictObject({
    type: z.literal("length").describe("0 up to max_chars characters, then −(excess / max_chars): a penalty for rambling."),
    max_chars: int(1).describe("Longest completion without a penalty, in characters."),
    weight,
  }),
  z.strictObject({
    type: z.literal("judge").describe("The local judge's preference for the completion over the row's reference answer, both orders averaged: P(better) + ½·P(tie), from 0 to 1. The same judge as evaluation."),
    field: z.string().min(1).default("reference").describe("The data field with the reference answer (default reference: a conversation's last assistant turn)."),
    judge: z.string().min(1).nullable().default(null).describe("A local ONNX judge folder (relative paths: to the config file); null: the default judge, downloaded once."),
    weight,
  }),
  z.strictObject({
    type: z.literal("python").describe("Your own function: def reward(prompts, completions, **fields) -> list[float], one number (or None) per completion."),
    file: z.string().min(1).describe("The Python file (relative paths: to the config file)."),
    function: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a Python function name")
      .default("reward")
      .describe("The function's name in the file."),
    trust_code: z.boolean().default(false).describe("Run the file's code with your rights. Required: it is your code, as trusted as a model's own code (model.trust_remote_code)."),
    weight,
  }),
]);
export type Reward = z.output<typeof RewardSchema>;
/** A reward as written (every field with a default may be left out). */
export type RewardInput = z.input<typeof RewardSchema>;

export const RunConfigSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64")
    .optional()
    .describe("Run name, used in the run id. Default: the config file's name."),
  method: z
    .enum(METHODS)
    .default("sft")
    .describe("Training method. sft: supervised fine-tuning on conversations; dpo, simpo, orpo: preference tuning on prompt/chosen/rejected pairs; kto: preference tuning on single answers labelled good or bad (label true/false); grpo: reinforcement learning on prompts, the model's own completions scored by the rewards."),
  finetune: z
    .enum(FINETUNES)
    .default("lora")
    .describe("Train LoRA adapters (small, fast), LoRA on a 4-bit base (qlora: bitsandbytes NF4, CUDA only, least memory) or every weight (full)."),
  model: ModelSchema,
  data: DataSchema,
  lora: LoraSchema.default(LoraSchema.parse({})),
  training: TrainingSchema.default(TrainingSchema.parse({})),
  preference: PreferenceSchema.nullable()
    .default(null)
    .describe("dpo, simpo, orpo, kto, grpo: the method's settings ({} for its defaults); resolved with every default filled in, null for sft."),
  rewards: z
    .array(RewardSchema)
    .min(1)
    .max(32)
    .optional()
    .describe("grpo: how each sampled completion is scored, a list of {type: exact_match|numeric|format|length|python, weight, …}; the weighted sum is the completion's reward."),
  init_from: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .describe("Start from a finished run (its id or name) or a folder: a LoRA adapter (merged into model.path first) or a full model. Recorded as the run's parent."),
});

/** What a user writes: every field with a default may be left out. */
export type RunConfigInput = z.input<typeof RunConfigSchema>;
/** What the engine stores and the worker receives: every default filled in, paths absolute. */
export type RunConfig = z.output<typeof RunConfigSchema> & { name: string };

/** The fields of an object schema, looking through default/optional/nullable wrappers. */
export function objectShape(schema: unknown): Record<string, unknown> | undefined {
  let s = schema as { def?: { type?: string; innerType?: unknown; shape?: Record<string, unknown> } } | undefined;
  while (s?.def && (s.def.type === "default" || s.def.type === "optional" || s.def.type === "nullable")) s = s.def.innerType as typeof s;
  return s?.def?.type === "object" ? s.def.shape : undefined;
}
