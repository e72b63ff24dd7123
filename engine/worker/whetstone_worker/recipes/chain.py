"""A chained run's final adapter as ONE standard PEFT LoRA adapter on model.path.

A LoRA run started from an SFT adapter (init_from) trains a fresh adapter on the merged weights
W + ΔW₁, so its own adapter ΔW₂ means nothing on model.path alone, where export, evaluation,
generation and merge put it. Low-rank updates add by stacking their ranks: with ΔWᵢ = sᵢ·Bᵢ·Aᵢ,

    ΔW₁ + ΔW₂ = [s₁B₁ | s₂B₂] · [A₁; A₂]

so the output adapter has rank r₁ + r₂ per module, scale 1 (lora_alpha = r, no rsLoRA), the
scales folded into B. A module only one side targets gets a zero block for the other side (width:
that side's rank), so an adapter without per-module ranks stays uniform; per-module ranks become
rank_pattern/alpha_pattern entries. The sum is exact in fp32 (only the merged base the run trained
on was rounded to the run's weight dtype). Checkpoints keep the trainable adapter alone: resume
rebuilds the merged base from init_from and loads it, as before.

Only plain LoRA on linear layers combines this way; anything else (modules_to_save, DoRA, LoRA
biases, embedding or convolution LoRA, trainable tokens) is refused when the run starts.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import torch

from ..errors import WorkerError

Parts = dict[str, tuple[torch.Tensor, torch.Tensor]]  # module name → (A (r, in), scale·B (out, r)), CPU fp32


def lora_parts(peft_model, what: str) -> Parts:
    """The active adapter of a PeftModel as scaled low-rank factors per module; refuses adapters that
    are not plain linear LoRA, naming `what` (e.g. "init_from /runs/x/outputs/adapter")."""
    from peft.tuners.lora import Linear, LoraLayer

    name = peft_model.active_adapter
    config = peft_model.peft_config[name]
    refuse = [label for label, bad in (
        ("modules_to_save", bool(getattr(config, "modules_to_save", None))),
        ("use_dora", bool(getattr(config, "use_dora", False))),
        (f"bias {getattr(config, 'bias', 'none')!r}", getattr(config, "bias", "none") != "none"),
        ("lora_bias", bool(getattr(config, "lora_bias", False))),
        ("trainable_token_indices", bool(getattr(config, "trainable_token_indices", None))),
        ("fan_in_fan_out", bool(getattr(config, "fan_in_fan_out", False))),
    ) if bad]
    parts: Parts = {}
    for module_name, module in peft_model.base_model.model.named_modules():
        if not isinstance(module, LoraLayer) or name not in module.lora_A:
            continue
        if not isinstance(module, Linear):
            refuse.append(f"LoRA on {module_name} ({type(module).__name__}, not a linear layer)")
            continue
        a = module.lora_A[name].weight.detach().float().cpu()
        b = module.lora_B[name].weight.detach().float().cpu() * module.scaling[name]
        parts[module_name] = (a.clone(), b)
    if refuse:
        raise WorkerError(
            "CONFIG_INVALID",
            f"{what}: a chained LoRA run's adapter must be plain LoRA on linear layers to combine with its parent; "
            f"this one has {', '.join(refuse)}.",
            "Chain from (and train) adapters without modules_to_save, DoRA, biases or embedding targets, "
            "or use finetune: full for the chained run.",
        )
    return parts


def combine(parent: Parts, parent_r: int, own: Parts, own_r: int) -> Parts:
    """Per module: A = [A₁; A₂], B = [s₁B₁ | s₂B₂], so B·A = ΔW₁ + ΔW₂; a side that lacks the
    module contributes zero blocks of its default rank."""
    out: Parts = {}
    for name in sorted(parent.keys() | own.keys()):
        ref_a, ref_b = (parent.get(name) or own[name])
        shape_in, shape_out = ref_a.shape[1], ref_b.shape[0]
        a1, b1 = parent.get(name) or (torch.zeros(parent_r, shape_in), torch.zeros(shape_out, parent_r))
        a2, b2 = own.get(name) or (torch.zeros(own_r, shape_in), torch.zeros(shape_out, own_r))
        out[name] = (torch.cat([a1, a2], 0).contiguous(), torch.cat([b1, b2], 1).contiguous())
    return out


class CombinedAdapter:
    """save_pretrained(folder) writes the combined factors as a standard PEFT LoRA adapter folder
    (adapter_config.json + adapter_model.safetensors), loadable with PeftModel.from_pretrained."""

    def __init__(self, parts: Parts, base_model: str, dropout: float):
        self.parts, self.base_model, self.dropout = parts, base_model, dropout

    def config(self):
        from peft import LoraConfig

        ranks = {name: a.shape[0] for name, (a, _) in self.parts.items()}
        r = Counter(ranks.values()).most_common(1)[0][0]
        # PEFT matches pattern keys as regexes against module names: escaped full names match exactly one module.
        pattern = {re.escape(name): rank for name, rank in ranks.items() if rank != r}
        return LoraConfig(r=r, lora_alpha=r, rank_pattern=pattern, alpha_pattern=dict(pattern), use_rslora=False,
                          target_modules=sorted(ranks), lora_dropout=self.dropout, task_type="CAUSAL_LM",
                          base_model_name_or_path=self.base_model)

    def save_pretrained(self, folder: str) -> None:
        from safetensors.torch import save_file

        Path(folder).mkdir(parents=True, exist_ok=True)
        self.config().save_pretrained(folder)
        tensors = {}
        for name, (a, b) in self.parts.items():
            tensors[f"base_model.model.{name}.lora_A.weight"] = a
            tensors[f"base_model.model.{name}.lora_B.weight"] = b
        save_file(tensors, str(Path(folder) / "adapter_model.safetensors"), metadata={"format": "pt"})
