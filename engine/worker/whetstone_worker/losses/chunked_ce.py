"""Causal-LM cross-entropy without the full-vocabulary logits of the whole batch.

The plain path, `model(**inputs).logits` then `F.cross_entropy(logits.float())`, materialises a
(tokens × vocab) tensor in the compute dtype plus its fp32 copy, and autograd keeps both for the
backward pass: for a Llama-3 vocabulary (128,256) and 8,192 tokens per micro-batch that is 4 GiB of
fp32 logits alone, often more than the LoRA step's every other activation together.

`lm_loss_sum` computes the same summed loss from the decoder's hidden states instead:
1. only positions whose label is trained (not IGNORE: untrained prompt tokens, goldfish drops,
   padding and the first token of each packed sample) go through the output head at all — in SFT
   that is often half the tokens or fewer;
2. those positions are cut into chunks of `CHUNK` rows; per chunk the logits are computed, the
   loss summed (log-sum-exp in fp32) and, in the same pass, the gradients with respect to the
   hidden states and the head's weight (d loss/d logits = softmax − one-hot), so no chunk's logits
   outlive its iteration and the backward pass is one multiply by the incoming scalar gradient.
Peak extra memory is CHUNK × vocab fp32 (4,096 × 128,256 × 4 B = 2 GiB → 1 GiB at CHUNK 2,048;
we use 1,024) plus a hidden-sized gradient buffer, independent of batch and sequence length.

It is the same math as the plain path: tests/test_chunked_ce.py checks the loss and the gradients
of hidden states, head weight and bias against `F.cross_entropy` on full logits, with IGNORE labels
(the goldfish and prompt masks) in place. When Liger-Kernel is installed and `liger` is asked for,
its Triton fused-linear-cross-entropy (same idea, fused kernels) is used on CUDA instead.

`linear_token_logps` is the per-token variant for the preference recipe (DPO, SimPO, ORPO need each
response token's log-prob, not one sum): same chunks, but since each position has its own incoming
gradient, only the hidden-state gradient is precomputed (per row, scaled in backward); the head's
weight gradient (full fine-tuning) recomputes each chunk's logits in backward.

Only heads that are a plain `nn.Linear` applied to the last hidden state qualify (Llama, Mistral,
Qwen2/3, Phi-3, Gemma 1, OLMo, ...). Models that transform the logits (Gemma 2's soft-capping,
Cohere's logit scale, Granite's divisor) or a LoRA-wrapped / quantised head fall back to the plain
path; `head_for_chunked_loss` returns the reason so the recipe can say so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.chat import IGNORE

CHUNK = 1024

# Model types whose *ForCausalLM computes logits = lm_head(hidden) with nothing after it.
PLAIN_HEAD_MODELS = frozenset({
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi3", "gemma", "olmo", "olmo2",
    "smollm3", "starcoder2", "stablelm", "ministral",
})


class LinearCrossEntropy(torch.autograd.Function):
    """sum over rows of CE(hidden @ weight.T + bias, labels), rows with label IGNORE contributing 0;
    gradients computed chunk by chunk in the forward pass."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, labels: torch.Tensor,
                chunk: int, want_grads: bool):
        need_h, need_w = want_grads and ctx.needs_input_grad[0], want_grads and ctx.needs_input_grad[1]
        need_b = want_grads and bias is not None and ctx.needs_input_grad[2]
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if need_b else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk):
            h, y = hidden[start : start + chunk], labels[start : start + chunk]
            logits = _chunk_logits(h, weight, bias)
            valid = y != IGNORE
            target = y.clamp(min=0)
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, target[:, None])[:, 0]
            total += torch.where(valid, lse - picked, 0.0).sum()
            if not (need_h or need_w or need_b):
                continue
            grad = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            grad[torch.arange(len(y), device=y.device), target] -= 1.0
            grad *= valid[:, None]
            if need_b:
                grad_b += grad.sum(0)
            grad = grad.to(h.dtype)
            if need_h:
                grad_h[start : start + chunk] = grad @ weight
            if need_w:
                grad_w += (grad.T @ h).float()
        ctx.save_for_backward(*(g if g is not None else torch.empty(0) for g in (grad_h, grad_w, grad_b)))
        ctx.have = (need_h, need_w, need_b)
        ctx.dtypes = (hidden.dtype, weight.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        need_h, need_w, need_b = ctx.have
        return (
            grad_h * grad_out.to(grad_h.dtype) if need_h else None,
            (grad_w * grad_out).to(ctx.dtypes[1]) if need_w else None,
            (grad_b * grad_out).to(ctx.dtypes[1]) if need_b else None,
            None, None, None,
        )


def _head_operands(hidden: torch.Tensor, head: torch.nn.Linear):
    """(hidden, weight, bias) in the dtype the plain path's lm_head matmul would run in (autocast's, else the hidden states')."""
    weight, bias = head.weight, head.bias
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        return hidden.to(dtype), weight.to(dtype), bias.to(dtype) if bias is not None else None
    return hidden, weight.to(hidden.dtype), bias


def _trained_rows(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(flat indices of the non-IGNORE labels, their hidden rows, their labels)."""
    hidden, labels = hidden.reshape(-1, hidden.shape[-1]), labels.reshape(-1)
    keep = (labels != IGNORE).nonzero()[:, 0]
    return keep, hidden.index_select(0, keep), labels.index_select(0, keep)


def linear_cross_entropy(hidden: torch.Tensor, head: torch.nn.Linear, labels: torch.Tensor, chunk: int = CHUNK,
                         liger: bool = False) -> torch.Tensor:
    """Summed next-token loss of `hidden` (…, d) through `head` against `labels` (…) (already shifted:
    labels[i] is the target of hidden[i]); IGNORE labels contribute nothing. fp32 scalar."""
    _, hidden, labels = _trained_rows(hidden, labels)
    hidden, weight, bias = _head_operands(hidden, head)
    device = hidden.device.type
    if liger:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        return LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE, reduction="sum")(weight, hidden, labels, bias).float()
    with torch.autocast(device, enabled=False):
        return LinearCrossEntropy.apply(hidden, weight, bias, labels, chunk, torch.is_grad_enabled())


class LinearTokenLogps(torch.autograd.Function):
    """log softmax(hidden @ weight.T + bias)[row, labels[row]] per row, chunk by chunk, fp32.

    Unlike the summed loss, each row gets its own incoming gradient g (a preference loss weighs
    chosen and rejected tokens differently), so d/d logits = g·(one-hot − softmax) is not known in
    the forward pass. The hidden-state gradient is still precomputed per row, (one-hot − softmax) @
    weight, and scaled by g in backward; the head's weight and bias gradients (full fine-tuning only)
    recompute each chunk's logits in backward. No chunk's logits outlive its iteration either way."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, labels: torch.Tensor, chunk: int,
                want_grads: bool):
        need_h = want_grads and ctx.needs_input_grad[0]
        base_h = torch.empty_like(hidden) if need_h else None
        out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        lses = torch.empty_like(out)
        for start in range(0, hidden.shape[0], chunk):
            h, y = hidden[start : start + chunk], labels[start : start + chunk]
            logits = _chunk_logits(h, weight, bias)
            lse = torch.logsumexp(logits, dim=-1)
            out[start : start + chunk] = logits.gather(1, y[:, None])[:, 0] - lse
            lses[start : start + chunk] = lse
            if need_h:
                base_h[start : start + chunk] = _one_hot_minus_softmax(logits, lse, y).to(h.dtype) @ weight
        ctx.save_for_backward(hidden, weight, bias if bias is not None else torch.empty(0), labels, lses,
                              base_h if need_h else torch.empty(0))
        ctx.chunk, ctx.need_h, ctx.has_bias = chunk, need_h, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        hidden, weight, bias, labels, lses, base_h = ctx.saved_tensors
        bias = bias if ctx.has_bias else None
        grad_h = base_h * grad_out[:, None].to(base_h.dtype) if ctx.need_h else None
        need_w, need_b = ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device) if need_b else None
        if need_w or need_b:
            for start in range(0, hidden.shape[0], ctx.chunk):
                h, y, lse = hidden[start : start + ctx.chunk], labels[start : start + ctx.chunk], lses[start : start + ctx.chunk]
                grad = _one_hot_minus_softmax(_chunk_logits(h, weight, bias), lse, y) * grad_out[start : start + ctx.chunk, None]
                if need_b:
                    grad_b += grad.sum(0)
                if need_w:
                    grad_w += (grad.to(h.dtype).T @ h).float()
        return (grad_h, grad_w.to(weight.dtype) if need_w else None, grad_b.to(weight.dtype) if need_b else None, None, None, None)


def _chunk_logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    logits = (h @ weight.T).float()
    if bias is not None:
        logits += bias.float()
    return logits


def _one_hot_minus_softmax(logits: torch.Tensor, lse: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d log p(label) / d logits per row, in place of `logits`."""
    grad = logits.sub_(lse[:, None]).exp_().neg_()
    grad[torch.arange(len(labels), device=labels.device), labels] += 1.0
    return grad


def linear_token_logps(hidden: torch.Tensor, head: torch.nn.Linear, labels: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """log p(labels[…] | hidden[…]) through `head` at every position (labels already shifted), 0 where
    the label is IGNORE; fp32, shaped like `labels`. Only non-IGNORE positions go through the head."""
    keep, rows, targets = _trained_rows(hidden, labels)
    rows, weight, bias = _head_operands(rows, head)
    with torch.autocast(rows.device.type, enabled=False):
        picked = LinearTokenLogps.apply(rows, weight, bias, targets, chunk, torch.is_grad_enabled())
    return torch.zeros(labels.numel(), dtype=torch.float32, device=picked.device).index_copy(0, keep, picked).view(labels.shape)


def head_for_chunked_loss(model) -> tuple[torch.nn.Linear | None, str]:
    """The output head if the chunked loss can replace the model's own logits, else (None, why not)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kind = getattr(base.config, "model_type", "?")
    if kind not in PLAIN_HEAD_MODELS:
        return None, f"model type {kind!r} is not known to compute its logits as a plain linear head"
    head = base.get_output_embeddings()
    if type(head) is not torch.nn.Linear:
        return None, f"the output head is a {type(head).__name__} (LoRA-wrapped or quantised), not a plain Linear"
    return head, "ok"


def lm_loss_sum(model, inputs: dict[str, torch.Tensor], labels: torch.Tensor, head: torch.nn.Linear | None = None,
                liger: bool = False) -> torch.Tensor:
    """Summed causal-LM loss of a batch: logits at position t predict labels[t+1]. With `head` (from
    head_for_chunked_loss) the decoder's hidden states go through the chunked loss; without, the
    model's full logits go through F.cross_entropy. Same value either way."""
    if head is None:
        logits = model(**inputs).logits
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE, reduction="sum")
    return linear_cross_entropy(hidden_states(model, inputs)[:, :-1], head, labels[:, 1:], liger=liger)


def hidden_states(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The decoder's last hidden states (rows, T, d): the model's forward pass without the output head."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder()(**inputs).last_hidden_state
