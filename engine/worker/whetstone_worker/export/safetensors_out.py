"""`safetensors` and `adapter` exports: a standard transformers model folder, or the PEFT adapter alone.

The merged folder is what `save_pretrained` writes: config.json, generation_config.json, the weights
as model.safetensors or as model-0000i-of-0000n.safetensors shards with model.safetensors.index.json
(weight_map and total_size), and the tokenizer files. Shards are filled in checkpoint order up to
`shard_size_mb` (a tensor larger than that gets a shard of its own, as in transformers); a shard is
built in memory and written at once, so peak memory is one shard, not the model.
"""

from __future__ import annotations

import json

import torch

from ..errors import WorkerError
from . import folder
from .context import DTYPES, Context
from .source import BYTES, TensorRef, WeightSource, read_refs

DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def _nbytes(ref: TensorRef, dtype: torch.dtype) -> int:
    is_float = ref.dtype in ("F64", "F32", "F16", "BF16")
    return ref.numel * (dtype.itemsize if is_float else BYTES.get(ref.dtype, 4))


def plan_shards(refs: list[TensorRef], dtype: torch.dtype, shard_bytes: int) -> list[list[TensorRef]]:
    shards: list[list[TensorRef]] = [[]]
    size = 0
    for ref in refs:
        n = _nbytes(ref, dtype)
        if shards[-1] and size + n > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(ref)
        size += n
    return shards


def write_weights(ctx: Context, dtype: torch.dtype, dest) -> list[str]:
    """The merged weights as safetensors shards (+ index) in `dest`; returns the file names."""
    from safetensors.torch import save_file

    source, progress = ctx.source, ctx.progress
    shards = plan_shards(source.refs, dtype, ctx.shard_bytes)
    total = sum(_nbytes(r, dtype) for r in source.refs)
    names = (["model.safetensors"] if len(shards) == 1
             else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))])
    progress.start("export", total, "bytes", f"Writing {len(source)} tensors into {len(shards)} file(s)")
    weight_map: dict[str, str] = {}
    done = 0
    for name, shard in zip(names, shards):
        tensors = {}
        for ref in shard:
            tensor = source.load(ref)
            tensors[ref.name] = (tensor.to(dtype) if tensor.is_floating_point() else tensor).contiguous()
            weight_map[ref.name] = name
            done += 1
            progress.advance(_nbytes(ref, dtype), f"{name}: tensor {done} of {len(source)} ({ref.name})")
        save_file(tensors, str(dest / name), metadata={"format": "pt"})
        del tensors
    if len(shards) > 1:
        index = {"metadata": {"total_size": total, "total_parameters": source.parameters}, "weight_map": weight_map}
        (dest / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        names.append("model.safetensors.index.json")
    return names


class Merged:
    """--format safetensors"""

    @staticmethod
    def validate(command: dict) -> None:
        if command["quantization"] is not None:
            raise WorkerError("EXPORT_INVALID", f"quantization {command['quantization']!r} applies to gguf exports only",
                              "Leave --quant out, or export with --format gguf.")

    @staticmethod
    def estimate(source: WeightSource, command: dict) -> int:
        return parameter_bytes(source, DTYPES[command["dtype"]])

    @staticmethod
    def write(ctx: Context) -> None:
        write_weights(ctx, ctx.dtype, ctx.staging)
        folder.write_config(ctx.source.config_dir, ctx.staging, DTYPE_NAMES[ctx.dtype])
        folder.copy_tokenizer(ctx.tokenizer_dir, ctx.staging)


class Adapter:
    """--format adapter: adapter_config.json + adapter_model.safetensors (+ tokenizer), for PEFT."""

    @staticmethod
    def validate(command: dict) -> None:
        Merged.validate(command)
        if command["tuned_kind"] != "adapter":
            raise WorkerError("EXPORT_INVALID", f"{command['tuned_path']} is a fully fine-tuned model, not an adapter",
                              "Export it with --format safetensors (or gguf, onnx).")

    @staticmethod
    def estimate(source: WeightSource, command: dict) -> int:
        return sum(_nbytes(r, DTYPES[command["dtype"]]) for r in read_refs([source.adapter_file]))

    @staticmethod
    def write(ctx: Context) -> None:
        from safetensors import safe_open
        from safetensors.torch import save_file

        file = ctx.source.adapter_file
        refs = read_refs([file])
        ctx.progress.start("export", sum(_nbytes(r, ctx.dtype) for r in refs), "bytes", f"Writing {len(refs)} adapter tensors")
        tensors = {}
        with safe_open(str(file), framework="pt") as f:
            for i, ref in enumerate(refs, 1):
                tensor = f.get_tensor(ref.name)
                tensors[ref.name] = tensor.to(ctx.dtype) if tensor.is_floating_point() else tensor
                ctx.progress.advance(_nbytes(ref, ctx.dtype), f"adapter tensor {i} of {len(refs)} ({ref.name})")
        save_file(tensors, str(ctx.staging / "adapter_model.safetensors"), metadata={"format": "pt"})
        config = json.loads((ctx.source.tuned_dir / "adapter_config.json").read_text(encoding="utf-8"))
        config["inference_mode"] = True
        (ctx.staging / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        folder.copy_tokenizer(ctx.tokenizer_dir, ctx.staging)


def parameter_bytes(source: WeightSource, dtype: torch.dtype) -> int:
    return sum(_nbytes(r, dtype) for r in source.refs)
