"""The speed and memory switches of a training step, in one place (config.training.* and finetune):

- chunked_loss (default on): the loss from the decoder's hidden states, chunk by chunk, only at
  trained positions (losses/chunked_ce.py); Liger's fused linear cross-entropy instead when
  `liger` is on. Falls back to the model's own logits, with the reason, for heads it cannot take.
- liger: Liger-Kernel's Triton RMSNorm, RoPE and SwiGLU patched into the model instance.
- compile: torch.compile of each decoder layer (as torchtune does): one compiled graph reused by
  every layer, so compile time does not grow with depth, and the loss stays outside the graph.
- activation_offload: tensors saved for backward are moved to pinned CPU memory and back
  (torch.autograd.graph.save_on_cpu); pairs with gradient_checkpointing, which saves only the
  layer inputs, so only those travel.
- finetune: qlora: the frozen base is loaded in 4-bit NF4 (bitsandbytes, double quantisation,
  compute in bf16/fp16), LoRA on top; CUDA only.
- batches reach the GPU from pinned memory with non_blocking copies, so the copy overlaps the
  Python that builds the next micro-batch; the data are tokenized once before training.

Every switch that cannot work on this machine fails with what is missing and how to turn it off,
rather than silently doing nothing. Padding-free packing and its attention layout (FlashAttention 2
varlen, else SDPA with a block mask) are the recipe's own (recipes/sft.py, data/packing.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Callable

import torch

from .errors import WorkerError
from .losses.chunked_ce import head_for_chunked_loss, lm_loss_sum


def load_quantized(path: str, compute: torch.dtype | None, trust_remote_code: bool, device: torch.device):
    """The base model in 4-bit NF4 for QLoRA, prepared for k-bit training (norms in fp32, inputs require grad)."""
    if device.type != "cuda":
        raise WorkerError(
            "CONFIG_INVALID",
            f"finetune: qlora needs an NVIDIA GPU (bitsandbytes 4-bit kernels); training runs on {device.type} here.",
            "Set finetune to lora (same adapters, base kept in 16 or 32 bits).",
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise WorkerError(
            "CONFIG_INVALID",
            "finetune: qlora needs the bitsandbytes package, which is not installed in the worker's Python.",
            "Install it into the worker venv (engine/worker/.venv/bin/pip install bitsandbytes), or set finetune to lora.",
        )
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = compute or torch.bfloat16
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(
        path, quantization_config=quant, dtype=dtype, attn_implementation="sdpa", trust_remote_code=trust_remote_code,
        device_map={"": device.index or 0},
    )
    model.config.use_cache = False
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)


def _need_liger(device: torch.device) -> None:
    if device.type != "cuda":
        raise WorkerError("CONFIG_INVALID", f"training.liger needs CUDA (Triton kernels); training runs on {device.type} here.",
                          "Set training.liger to false.")
    if importlib.util.find_spec("liger_kernel") is None:
        raise WorkerError("CONFIG_INVALID", "training.liger is on but liger-kernel is not installed in the worker's Python.",
                          "Install it (engine/worker/.venv/bin/pip install liger-kernel) or set training.liger to false.")


class StepSpeedups:
    """Applies the switches to a model (after LoRA) and runs the loss of one micro-batch."""

    def __init__(self, model, training, device: torch.device, log: Callable[[str, str], None]):
        self.device, self.offload_on = device, training.activation_offload
        self.liger = training.liger
        notes = []
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        if self.liger:
            _need_liger(device)
            from liger_kernel.transformers import _apply_liger_kernel_to_instance

            _apply_liger_kernel_to_instance(model=base, cross_entropy=False, fused_linear_cross_entropy=False)
            notes.append("Liger kernels")
        self.head, loss_note = None, None
        if training.chunked_loss:
            self.head, why = head_for_chunked_loss(model)
            if self.head is None:
                log("warning", f"training.chunked_loss: {why}; computing the loss from full logits instead.")
            else:
                loss_note = "fused linear cross-entropy (Liger)" if self.liger else "chunked cross-entropy"
                notes.append(loss_note)
        if training.compile:
            layers = getattr(base.get_decoder(), "layers", None)
            if layers is None:
                raise WorkerError("CONFIG_INVALID", f"training.compile: no decoder layers found in {type(base).__name__}.",
                                  "Set training.compile to false for this model.")
            for layer in layers:
                layer.compile()
            notes.append(f"{len(layers)} decoder layers compiled")
        if self.offload_on:
            notes.append("activations offloaded to CPU")
        self.summary = ", ".join(notes)
        # The switches without the loss head's note (a recipe with a loss of its own names that itself).
        self.switches = ", ".join(n for n in notes if n != loss_note)

    def loss_sum(self, model, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Summed next-token loss of a micro-batch (fp32 scalar)."""
        with self.offload():
            return lm_loss_sum(model, inputs, labels, head=self.head, liger=self.liger and self.head is not None)

    def offload(self):
        if not self.offload_on or self.device.type == "cpu":
            return contextlib.nullcontext()
        return torch.autograd.graph.save_on_cpu(pin_memory=True)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device.type != "cuda":
            return {k: v.to(self.device) for k, v in batch.items()}
        return {k: v.pin_memory().to(self.device, non_blocking=True) for k, v in batch.items()}
