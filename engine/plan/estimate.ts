/**
 * Peak-memory and time estimates for a run, from the model's config.json and the run config, before
 * anything is loaded. The model is an accounting of the big buffers, each named so the wizard and
 * `whetstone train --plan` can say what dominates and which knob moves it:
 *
 *   weights      every parameter in the storage dtype (bf16 on CUDA, fp32 on CPU)
 *   adapters     LoRA A and B for each targeted linear layer, fp32
 *   gradients    one fp32 gradient per trainable parameter
 *   optimizer    AdamW's two fp32 moments per trainable parameter (+ fp32 master weights, full FT)
 *   activations  saved for backward: per token and layer, the attention and SwiGLU MLP
 *                intermediates (6h + 2·kv + 5·I values); with gradient checkpointing only each
 *                layer's input, plus one layer recomputed. On CUDA (FlashAttention / memory-
 *                efficient SDPA) and on the CPU (torch's CPU flash kernel, which SDPA picks with
 *                and without our block-diagonal masks) attention scores are never stored, so
 *                there is no s² term; only on MPS does SDPA run the math kernel, which keeps
 *                b·H·s² probabilities per layer for backward (one layer under checkpointing) plus
 *                the scores and their gradient of the layer at hand. Checked against measured CPU
 *                peaks in bench/results/estimator.md.
 *   logits       per token: the logits, their fp32 copy for the loss, log-softmax and its gradient;
 *                with training.chunked_loss (the default) only one chunk of 1,024 tokens at a time
 *   reference    DPO's reference model while the policy's activations are held: with LoRA the same
 *                weights with the adapter off, so only a no-grad forward's working set (one layer's
 *                intermediates and its logits, chunked or not); full fine-tuning adds a frozen copy
 *                of the weights; preference.precompute_reference (and SimPO, ORPO) need none
 *   overhead     CUDA context and allocator slack
 *
 * With training.devices N > 1 (distributed.py) every figure is one device's. LoRA is replicated as in
 * DDP: each device holds the whole base, the adapter and its AdamW state, the activations of its own
 * micro-batch, and one more fp32 copy of the adapter's gradients, flattened for the all-reduce
 * (`allreduce`). A full fine-tune is sharded with FSDP2: weights, gradients and AdamW's moments are 1/N
 * per device, plus the units gathered whole at the peak (`gathered`): the root unit (embeddings,
 * output head, final norm), which FSDP2 keeps unsharded from the start of forward to the end of
 * backward, with its gradients; and two decoder layers (the one running and the next, prefetched)
 * with the running one's gradients and FSDP2's reduce-scatter copy of them. A device that forwards
 * more than one micro-batch a step (gradient_accumulation > N) skips the reduce-scatter until its
 * last one, and FSDP2 then keeps every gradient whole in between: gradients are not divided.
 *
 * Preference methods (dpo, simpo, orpo) put a micro-batch of n pairs through as one padded batch of
 * 2n rows, chosen and rejected, each up to max_length: activations and logits are those of 2n
 * sequences; their chunked response log-probs (recipes/preference.py) hold one chunk like SFT's loss.
 * grpo's micro-batch of n prompts is n·G rows of prompt and completion; it samples them first, with
 * a key/value cache of every row (generation), and runs its reference only when β > 0.
 *
 * It is an upper-bound-leaning estimate (every micro-batch assumed full: packed rows are), checked
 * against measured peaks in bench/. Counts follow ALGORITHMS.md ("FLOPs and MFU for LoRA").
 */
import { PAIR_METHODS, type RunConfig } from "../config/schema";
import { METHOD_TABLE, runsReference } from "../config/methods";

export interface ModelShape {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  tied: boolean;
  /** Biases on q, k and v (Qwen2). */
  qkvBias: boolean;
}

export interface PlanInput {
  finetune: "lora" | "full";
  loraRank: number;
  /** "all-linear" or module names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj). */
  loraTargets: "all-linear" | string[];
  microBatchSize: number;
  maxLength: number;
  gradientCheckpointing: boolean;
  /** Bytes per weight as stored: 2 for bf16/fp16, 4 for fp32. */
  weightBytes: 2 | 4;
  /** Bytes per activation value: 2 under bf16/fp16 autocast, 4 in fp32. */
  activationBytes: 2 | 4;
  device: "cuda" | "cpu" | "mps";
  /** training.chunked_loss: the loss runs over chunks of LOSS_CHUNK tokens, never the whole batch's logits. */
  chunkedLoss?: boolean;
  /** Training method (default sft): dpo, simpo and orpo train on pairs, 2 sequences per micro-batch item; kto
   * puts each row and its mismatched KL row through (2 sequences, the KL one without gradient). */
  method?: RunConfig["method"];
  /** preference.precompute_reference (DPO): reference log-probs computed once before training, no reference model. */
  precomputeReference?: boolean;
  /** preference.beta: grpo runs its reference (the KL term) only when it is above 0. */
  beta?: number | null;
  /** grpo: completions sampled per prompt (G), each a sequence of the micro-batch. */
  numGenerations?: number;
  /** training.devices: processes that train together, one per GPU (default 1); the estimate is then one device's. */
  devices?: number;
  /** training.gradient_accumulation: micro-batches per step, dealt out over the devices (matters to a sharded run). */
  gradientAccumulation?: number;
}

/** Tokens per chunk of the worker's chunked cross-entropy (whetstone_worker/losses/chunked_ce.py CHUNK). */
export const LOSS_CHUNK = 1024;

export interface MemoryEstimate {
  parameters: number;
  trainable: number;
  bytes: Record<"weights" | "adapters" | "gradients" | "optimizer" | "gathered" | "allreduce" | "activations" | "logits" | "reference" | "generation" | "overhead", number>;
  total: number;
}

/** Read the shape from a Hugging Face config.json (Llama, Qwen2, Mistral and kin). */
export function shapeFromConfig(c: Record<string, unknown>): ModelShape {
  const n = (key: string, fallback?: number): number => {
    const v = c[key] ?? (c.text_config as Record<string, unknown> | undefined)?.[key];
    if (typeof v === "number") return v;
    if (fallback !== undefined) return fallback;
    throw new Error(`config.json has no ${key}`);
  };
  const hidden = n("hidden_size");
  const heads = n("num_attention_heads");
  return {
    hidden,
    intermediate: n("intermediate_size"),
    layers: n("num_hidden_layers"),
    heads,
    kvHeads: n("num_key_value_heads", heads),
    headDim: n("head_dim", hidden / heads),
    vocab: n("vocab_size"),
    tied: Boolean(c.tie_word_embeddings ?? false),
    qkvBias: Boolean(c.attention_bias ?? c.model_type === "qwen2"),
  };
}

/** Linear layers of one decoder layer: name → [in, out]. */
function linears(s: ModelShape): Record<string, [number, number]> {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  return {
    q_proj: [s.hidden, q],
    k_proj: [s.hidden, kv],
    v_proj: [s.hidden, kv],
    o_proj: [q, s.hidden],
    gate_proj: [s.hidden, s.intermediate],
    up_proj: [s.hidden, s.intermediate],
    down_proj: [s.intermediate, s.hidden],
  };
}

/** Parameters of one decoder layer: its linear layers, q/k/v biases and two norms. */
export function layerParameters(s: ModelShape): number {
  const bias = s.qkvBias ? s.heads * s.headDim + 2 * s.kvHeads * s.headDim : 0;
  return Object.values(linears(s)).reduce((a, [i, o]) => a + i * o, 0) + bias + 2 * s.hidden;
}

/** Parameters outside the decoder layers: the embeddings, the output head unless tied, the final norm. */
export function rootParameters(s: ModelShape): number {
  return s.vocab * s.hidden * (s.tied ? 1 : 2) + s.hidden;
}

export function countParameters(s: ModelShape): number {
  return rootParameters(s) + s.layers * layerParameters(s);
}

export function loraParameters(s: ModelShape, rank: number, targets: PlanInput["loraTargets"]): number {
  const all = linears(s);
  const names = targets === "all-linear" ? Object.keys(all) : targets.filter((t) => t in all);
  return s.layers * names.reduce((a, name) => a + rank * (all[name]![0] + all[name]![1]), 0);
}

export function estimateMemory(s: ModelShape, p: PlanInput): MemoryEstimate {
  const parameters = countParameters(s);
  const lora = p.finetune === "lora" ? loraParameters(s, p.loraRank, p.loraTargets) : 0;
  const trainable = p.finetune === "lora" ? lora : parameters;
  const rows = sequencesPerItem(p) * p.microBatchSize;
  const tokens = rows * p.maxLength;
  const kv = s.kvHeads * s.headDim;
  const perTokenLayer = 6 * s.hidden + 2 * kv + 5 * s.intermediate;
  const mathAttention = p.device !== "mps" ? 0 : rows * s.heads * p.maxLength ** 2 * p.activationBytes * ((p.gradientCheckpointing ? 1 : s.layers) + 2);
  const logitTokens = p.chunkedLoss ? Math.min(tokens, LOSS_CHUNK) : tokens;
  const activations =
    (p.gradientCheckpointing ? tokens * (s.layers * s.hidden + perTokenLayer) * p.activationBytes : tokens * s.layers * perTokenLayer * p.activationBytes) + mathAttention;
  const full = p.finetune === "full";
  const devices = Math.max(1, p.devices ?? 1);
  const share = full && devices > 1 ? 1 / devices : 1; // FSDP2's shard of weights, gradients and moments
  const bytes = {
    weights: parameters * (full ? 4 : p.weightBytes) * share, // full fine-tuning keeps fp32 weights (AdamW on bf16 loses small steps)
    adapters: lora * 4,
    gradients: trainable * 4 * share, // sharded: reduce-scattered after every micro-batch (whetstone_worker/recipes/loop.py my_share)
    optimizer: trainable * 8 * share,
    // Gathered fp32 (no mixed-precision policy): the root and its gradients, two layers and one layer's gradients twice.
    gathered: share < 1 ? 4 * (2 * rootParameters(s) + 4 * layerParameters(s)) : 0,
    allreduce: !full && devices > 1 ? lora * 4 : 0,
    activations,
    logits: logitTokens * s.vocab * (p.activationBytes + 4 + 4 + 4),
    // No-grad forward: one layer's intermediates (and math attention's scores) at a time, the logits without their gradient.
    reference: referencePass(p)
      ? (full ? parameters * 4 : 0) + tokens * perTokenLayer * p.activationBytes + (p.device !== "mps" ? 0 : rows * s.heads * p.maxLength ** 2 * p.activationBytes * 2) + logitTokens * s.vocab * (p.activationBytes + 4 + 4)
      : 0,
    // grpo samples its completions first: the key/value cache of every row, and one step's logits per row.
    generation: p.method === "grpo" ? tokens * s.layers * 2 * kv * p.activationBytes + rows * s.vocab * 4 : 0,
    overhead: p.device === "cuda" ? 0.75 * 2 ** 30 : 0.3 * 2 ** 30,
  };
  const subtotal = Object.values(bytes).reduce((a, b) => a + b, 0);
  // The allocator's slack grows with what it juggles: ~8% on top, as measured peaks show.
  const total = Math.round(subtotal * 1.08);
  return { parameters, trainable, bytes, total };
}

/** Sequences with activations per micro-batch item: a preference pair is two padded rows (chosen, rejected);
 * KTO's mismatched KL row runs without gradient, so it keeps no activations; a grpo prompt is its G completions. */
export function sequencesPerItem(p: Pick<PlanInput, "method" | "numGenerations">): number {
  if (p.method === "grpo") return p.numGenerations ?? (METHOD_TABLE.grpo.settings.num_generations as number);
  return (PAIR_METHODS as readonly string[]).includes(p.method ?? "sft") ? 2 : 1;
}

/** DPO and KTO run a reference model every step (DPO's can be precomputed: config/methods.ts). */
function referencePass(p: PlanInput): boolean {
  return runsReference(p.method ?? "sft", { precompute_reference: p.precomputeReference, beta: p.beta });
}

export interface Suggestion {
  /** The change in config terms (the CLI prints it). */
  change: string;
  total: number;
  /** The same change in words for the app, and the settings it sets (the app applies them with one click). */
  words: string;
  apply: { gradient_checkpointing?: boolean; micro_batch_size?: number; gradient_accumulation?: number; finetune?: "lora"; max_length?: number; devices?: number };
}

/**
 * Changes that would make the run fit in `budget` bytes (one device's), cheapest first, each with its
 * new estimate. A full fine-tune on fewer processes than the machine's `gpus` is first offered all of
 * them: sharded, each GPU holds a share, and the run is faster rather than slower.
 */
export function suggestFits(s: ModelShape, p: PlanInput, budget: number, accumulation = 1, gpus = 1): Suggestion[] {
  const tries: [Omit<Suggestion, "total">, PlanInput][] = [];
  if (p.finetune === "full" && gpus > (p.devices ?? 1)) {
    const each = gib(estimateMemory(s, { ...p, devices: gpus }).total);
    tries.push([
      { change: `training.devices ${gpus}: sharded over the ${gpus} GPUs of this machine`, words: `Train on all ${gpus} GPUs of this machine: the weights, gradients and optimizer state are split across them, about ${each} on each`, apply: { devices: gpus } },
      { ...p, devices: gpus },
    ]);
  }
  if (!p.gradientCheckpointing) tries.push([{ change: "turn on training.gradient_checkpointing", words: "Turn on gradient checkpointing (about 30% slower)", apply: { gradient_checkpointing: true } }, { ...p, gradientCheckpointing: true }]);
  for (let mb = Math.floor(p.microBatchSize / 2); mb >= 1; mb = Math.floor(mb / 2)) {
    const times = p.microBatchSize / mb;
    tries.push([
      { change: `training.micro_batch_size ${mb} with gradient_accumulation ×${times} (same effective batch)`, words: `Micro-batch ${mb}, accumulating ${accumulation * times} micro-batches per step (the same effective batch)`, apply: { micro_batch_size: mb, gradient_accumulation: accumulation * times } },
      { ...p, microBatchSize: mb, gradientAccumulation: (p.gradientAccumulation ?? accumulation) * times },
    ]);
    if (mb === 1) break;
  }
  if (!p.gradientCheckpointing && p.microBatchSize > 1)
    tries.push([{ change: "gradient checkpointing and micro_batch_size 1", words: `Gradient checkpointing and micro-batch 1 (accumulating ${accumulation * p.microBatchSize})`, apply: { gradient_checkpointing: true, micro_batch_size: 1, gradient_accumulation: accumulation * p.microBatchSize } }, { ...p, gradientCheckpointing: true, microBatchSize: 1, gradientAccumulation: (p.gradientAccumulation ?? accumulation) * p.microBatchSize }]);
  if (p.finetune === "full") tries.push([{ change: "finetune: lora instead of full", words: "Train LoRA adapters instead of every weight", apply: { finetune: "lora" } }, { ...p, finetune: "lora", weightBytes: p.device === "cuda" ? 2 : p.weightBytes }]);
  for (let len = Math.floor(p.maxLength / 2); len >= 512; len = Math.floor(len / 2)) tries.push([{ change: `data.max_length ${len}`, words: `Max length ${len} tokens`, apply: { max_length: len } }, { ...p, maxLength: len }]);
  return tries.map(([sugg, q]) => ({ ...sugg, total: estimateMemory(s, q).total })).filter((x) => x.total <= budget);
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** Per-token training FLOPs (ALGORITHMS.md): 4·N_frozen + 6·N_lora + 12·L·h·T for LoRA; 6·N + 12·L·h·T full;
 * DPO's per-step reference pass adds a forward, 2·N + 4·L·h·T. */
export function flopsPerToken(s: ModelShape, p: PlanInput): number {
  const n = countParameters(s) - (s.tied ? 0 : s.vocab * s.hidden); // N excludes the embedding table, includes the head
  const attention = 12 * s.layers * s.hidden * p.maxLength;
  const reference = referencePass(p) ? 2 * n + attention / 3 : 0;
  if (p.finetune === "full") return 6 * n + attention + reference;
  return 4 * n + 6 * loraParameters(s, p.loraRank, p.loraTargets) + attention + reference;
}
