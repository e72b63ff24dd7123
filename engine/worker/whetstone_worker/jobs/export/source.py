"""Where exported weights come from: the run's trained weights, folded into the base one tensor at a time.

A LoRA adapter changes each targeted weight W (out × in) by scale · B @ A, with scale = alpha / r
(alpha / sqrt(r) for rsLoRA) and r read from A's shape (so rank_pattern needs no parsing). Instead of
loading the base model, attaching the adapter and calling PEFT's merge_and_unload (the whole model in
memory, in one dtype), `WeightSource` reads the base checkpoint's safetensors tensor by tensor, adds
the delta in float32 and yields the result: memory stays at one tensor, the sum is rounded once (to
the export dtype, by the writer), and the writers can report progress and honour cancel between
tensors. The output keeps the base checkpoint's tensor names and order, so the exported folder is
the base model with different numbers in it. Tests compare the result with PEFT's own merge.

DoRA (lora.variant: dora) folds the same way, one row-normalisation more: with V = W + scale · B @ A,
the merged weight is (m / ‖V‖) · V, the norm taken per output row (PEFT's DoraLinearLayer.get_weight_norm)
and m the adapter's lora_magnitude_vector; only on linear layers, as Whetstone trains it.

The trade-off: only the LoRA that Whetstone trains (plain, rsLoRA, DoRA, plus alpha_pattern, embedding
LoRA and modules_to_save copies) is folded here. Adapters whose merge needs more of PEFT's machinery
(LoRA biases, aLoRA, trainable tokens, base-rewriting initialisations such as PiSSA, DoRA on
embeddings) are refused by name instead of being merged wrongly. A full fine-tune's folder is streamed as it is.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from ...errors import WorkerError

BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
PEFT_PREFIX = "base_model.model."
# adapter_config.json fields whose non-default value changes what merging means.
_UNSUPPORTED = {
    "lora_bias": "LoRA biases (lora_bias)",
    "fan_in_fan_out": "fan_in_fan_out (Conv1D layers)",
    "layer_replication": "layer_replication",
    "alora_invocation_tokens": "activated LoRA (alora_invocation_tokens)",
    "trainable_token_indices": "trainable tokens (trainable_token_indices)",
    "target_parameters": "LoRA on parameters (target_parameters)",
    "use_qalora": "QA-LoRA (use_qalora)",
    "use_bdlora": "block-diagonal LoRA (use_bdlora)",
}
_REWRITING_INITS = ("pissa", "olora", "corda", "loftq", "lora_ga")


@dataclass(frozen=True)
class TensorRef:
    name: str
    file: Path
    shape: tuple[int, ...]
    dtype: str  # safetensors dtype name: F32, BF16, …

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _model_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        return [folder / name for name in dict.fromkeys(weight_map.values())]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else sorted(folder.glob("model*.safetensors"))


def read_refs(files: list[Path]) -> list[TensorRef]:
    """Every tensor's name, shape and dtype from the safetensors headers (nothing is loaded)."""
    from safetensors import safe_open

    refs: list[TensorRef] = []
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                piece = f.get_slice(name)
                refs.append(TensorRef(name, file, tuple(piece.get_shape()), piece.get_dtype()))
    return refs


def _load(ref: TensorRef) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(ref.file), framework="pt") as f:
        return f.get_tensor(ref.name)


@dataclass
class Delta:
    a: str  # adapter tensor names
    b: str
    scale: float
    embedding: bool  # lora_embedding_A/B: the delta is (B @ A)ᵀ
    magnitude: str | None = None  # DoRA: the lora_magnitude_vector tensor (one per output row)


class WeightSource:
    """The tensors to export, in checkpoint order, as float32, with the adapter folded in."""

    def __init__(self, model_dir: Path, tuned_dir: Path, tuned_kind: str):
        self.model_dir, self.tuned_dir, self.kind = model_dir, tuned_dir, tuned_kind
        # A full fine-tune is a complete model folder; an adapter run keeps the base's config.
        self.config_dir = tuned_dir if tuned_kind == "model" else model_dir
        files = _model_files(self.config_dir)
        if not files:
            raise WorkerError(
                "EXPORT_UNSUPPORTED",
                f"No safetensors weights in {self.config_dir} (model.safetensors or model-*.safetensors)",
                "Export reads safetensors checkpoints. Re-save the model with save_pretrained (safe_serialization=True) and train from that folder.",
            )
        self.refs = read_refs(files)
        self.deltas: dict[str, Delta] = {}
        self.replacements: dict[str, str] = {}
        self.adapter_file: Path | None = None
        if tuned_kind == "adapter":
            self._read_adapter()

    @property
    def parameters(self) -> int:
        return sum(ref.numel for ref in self.refs)

    def __len__(self) -> int:
        return len(self.refs)

    def _read_adapter(self) -> None:
        folder = self.tuned_dir
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        self.adapter_config = config
        if config.get("peft_type", "LORA") != "LORA":
            raise _unsupported(folder, f"a {config.get('peft_type')} adapter (peft_type)")
        for field, what in _UNSUPPORTED.items():
            if config.get(field):
                raise _unsupported(folder, what)
        init = str(config.get("init_lora_weights", True)).lower()
        if init.startswith(_REWRITING_INITS):
            raise _unsupported(folder, f"init_lora_weights={init!r}, which rewrites the base weights")
        file = folder / "adapter_model.safetensors"
        if not file.is_file():
            raise WorkerError("MODEL_NOT_FOUND", f"No adapter weights at {file}",
                              "Point tuned_path at the run's outputs/adapter folder (adapter_model.safetensors).")
        self.adapter_file = file
        base = {ref.name: ref for ref in self.refs}
        adapter = {ref.name: ref for ref in read_refs([file])}
        for name, ref in adapter.items():
            if name.endswith(".lora_magnitude_vector") and config.get("use_dora"):
                continue  # read with its lora_A below
            match = re.fullmatch(r"(.+)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.weight)?", name)
            if match is None:  # modules_to_save, or a saved (possibly resized) embedding: a full copy
                target = name.removeprefix(PEFT_PREFIX).replace(".base_layer.", ".")
                if target not in base or base[target].shape != ref.shape:
                    raise _unsupported(folder, f"the tensor {name}, which matches no base weight")
                self.replacements[target] = name
                continue
            module, part = match.group(1).removeprefix(PEFT_PREFIX), match.group(2)
            if part not in ("lora_A", "lora_embedding_A"):
                continue
            embedding = part == "lora_embedding_A"
            target = f"{module}.weight"
            b_name = name.replace("lora_embedding_A" if embedding else "lora_A", "lora_embedding_B" if embedding else "lora_B")
            if target not in base or b_name not in adapter:
                raise _unsupported(folder, f"the LoRA pair for {module}, which matches no base weight {target}")
            rank = ref.shape[0]  # A is (r, in) for Linear and (r, num_embeddings) for Embedding
            alpha = _pattern(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8))
            scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
            magnitude = None
            if config.get("use_dora"):
                magnitude = f"{match.group(1)}.lora_magnitude_vector"
                if embedding or magnitude not in adapter:
                    raise _unsupported(folder, f"DoRA on {module} ({'an embedding' if embedding else 'no lora_magnitude_vector saved'})")
            self.deltas[target] = Delta(name, b_name, float(scale), embedding, magnitude)

    def load(self, ref: TensorRef) -> torch.Tensor:
        """One tensor as float32 (non-float tensors unchanged), with its LoRA delta added."""
        tensor = _load(ref)
        if ref.name in self.replacements:
            tensor = _load(TensorRef(self.replacements[ref.name], self.adapter_file, ref.shape, ref.dtype))
        if not tensor.is_floating_point():
            return tensor
        tensor = tensor.to(torch.float32)
        delta = self.deltas.get(ref.name)
        if delta is not None:
            from safetensors import safe_open

            with safe_open(str(self.adapter_file), framework="pt") as f:
                a, b = f.get_tensor(delta.a).float(), f.get_tensor(delta.b).float()
                magnitude = f.get_tensor(delta.magnitude).float() if delta.magnitude else None
            update = b @ a
            tensor += (update.T if delta.embedding else update) * delta.scale
            if magnitude is not None:  # DoRA: rescale each output row of W + ΔW to its learned magnitude
                tensor *= (magnitude / torch.linalg.norm(tensor, dim=1)).view(-1, 1)
        return tensor

    def __iter__(self) -> Iterator[tuple[TensorRef, torch.Tensor]]:
        for ref in self.refs:
            yield ref, self.load(ref)


def _pattern(patterns: dict, module: str, default):
    # PEFT's rule (peft.utils.other.get_pattern_key): a key matches the end of the module's name.
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _unsupported(folder: Path, what: str) -> WorkerError:
    return WorkerError(
        "EXPORT_UNSUPPORTED",
        f"The adapter in {folder} uses {what}, which export cannot fold into the base weights",
        "Export the adapter alone (--format adapter) and merge it with PEFT's merge_and_unload, "
        "or train a plain LoRA adapter (what Whetstone trains).",
    )
