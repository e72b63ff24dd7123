"""`onnx` export: the folder layout transformers.js loads (config, tokenizer, onnx/model.onnx).

The graph is the one optimum exports for text generation and transformers.js drives: inputs
input_ids, attention_mask, position_ids and past_key_values.<i>.key/value (batch, kv heads, past
length, head dim), outputs logits and present.<i>.key/value, with batch and sequence lengths
dynamic. transformers.js feeds an empty past on the first step and the presents after that, so the
same graph serves the prompt and every generated token.

How: the merged weights are written as a float32 transformers folder in the staging area (the same
code as the safetensors export), loaded with eager attention (plain ops that trace cleanly) and
traced with torch.onnx's TorchScript exporter at opset 17. It was chosen over the dynamo exporter
because it traces a tiny Llama in under a second and the traced graph generalizes over batch, prompt
and cache lengths (checked here and in the tests); the dynamo exporter needs per-input dynamic-shape
specs for the cache and is much slower. Models over 2 GB get their weights in one onnx/model.onnx_data
file (what transformers.js expects, flagged in config.json). After writing, ONNX Runtime runs the file
on a short prompt, then on one more token with the returned cache, and the largest logit difference
from PyTorch is recorded in the result (checks.onnx_max_abs_logit_diff).
"""

from __future__ import annotations

import json
import shutil
import warnings

import torch

from ..errors import WorkerError
from . import folder
from .context import Context
from .safetensors_out import parameter_bytes, write_weights
from .source import WeightSource

OPSET = 17
PROTOBUF_LIMIT = 2 * 1024**3


def validate(command: dict) -> None:
    if command["quantization"] is not None:
        raise WorkerError("EXPORT_INVALID", f"quantization {command['quantization']!r} applies to gguf exports only", "Leave --quant out.")
    if command["dtype"] != "float32":
        raise WorkerError("EXPORT_UNSUPPORTED", f"ONNX export writes float32 weights; dtype {command['dtype']} is not supported",
                          "Pass --dtype float32 (the default for onnx).")


def estimate(source: WeightSource, command: dict) -> int:
    return 2 * parameter_bytes(source, torch.float32)  # the staged float32 folder + the ONNX file


class _WithCache(torch.nn.Module):
    """The model with the cache as flat tensors in and out, as the ONNX graph has it."""

    def __init__(self, model):
        super().__init__()
        self.model, self.layers = model, model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for i in range(self.layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        present = [t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)]
        return (out.logits, *present)


def io_names(layers: int) -> tuple[list[str], list[str]]:
    cache = [f"{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    return (["input_ids", "attention_mask", "position_ids"] + [f"past_key_values.{c}" for c in cache],
            ["logits"] + [f"present.{c}" for c in cache])


def write(ctx: Context) -> None:
    from transformers import AutoModelForCausalLM

    scratch = ctx.staging / ".merged"
    scratch.mkdir()
    write_weights(ctx, torch.float32, scratch)
    folder.write_config(ctx.source.config_dir, scratch, "float32")
    ctx.progress.start("export", None, "", "Tracing the model into an ONNX graph")
    model = AutoModelForCausalLM.from_pretrained(str(scratch), dtype=torch.float32, attn_implementation="eager").eval()
    shutil.rmtree(scratch)
    wrapper = _WithCache(model).eval()
    layers, config = model.config.num_hidden_layers, model.config
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    inputs, outputs = io_names(layers)
    batch, seq, past = 2, 3, 2
    example = (torch.ones(batch, seq, dtype=torch.long), torch.ones(batch, past + seq, dtype=torch.long),
               torch.arange(past, past + seq).repeat(batch, 1), *[torch.zeros(batch, kv_heads, past, head_dim) for _ in range(2 * layers)])
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
    axes |= {name: {0: "batch_size", 2: "past_sequence_length"} for name in inputs[3:]}
    axes |= {name: {0: "batch_size", 2: "total_sequence_length"} for name in outputs[1:]}
    target = ctx.staging / "onnx"
    target.mkdir()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes, checked below
        torch.onnx.export(wrapper, example, str(target / "model.onnx"), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    ctx.progress.check()
    external = _consolidate(target)
    ctx.checks["onnx_max_abs_logit_diff"] = verify(target / "model.onnx", wrapper, kv_heads, head_dim, config.vocab_size)
    ctx.progress.check()
    folder.write_config(ctx.source.config_dir, ctx.staging, "float32")
    _flag_transformers_js(ctx.staging / "config.json", external)
    folder.copy_tokenizer(ctx.tokenizer_dir, ctx.staging)


def _consolidate(target) -> bool:
    """Gather weights the exporter spilled into per-tensor files (models > 2 GB) into model.onnx_data."""
    spilled = [p for p in target.iterdir() if p.name != "model.onnx"]
    if not spilled:
        return False
    import onnx

    graph = onnx.load(str(target / "model.onnx"), load_external_data=True)
    for p in spilled:
        p.unlink()
    onnx.save_model(graph, str(target / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data")
    return True


def _flag_transformers_js(path, external: bool) -> None:
    config = json.loads(path.read_text(encoding="utf-8"))
    # fp32 by default on every device (the browser default is the 8-bit model_quantized.onnx, which we do not write).
    config["transformers.js_config"] = {"dtype": "fp32", **({"use_external_data_format": True} if external else {})}
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def verify(path, wrapper, kv_heads: int, head_dim: int, vocab: int) -> float | None:
    """Largest |logit difference| between ONNX Runtime and PyTorch: a prompt, then one cached step."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    ids = (torch.arange(7) * 37 % vocab).reshape(1, 7)
    past = [torch.zeros(1, kv_heads, 0, head_dim) for _ in range(2 * wrapper.layers)]
    worst = 0.0
    for _ in range(2):
        length = ids.shape[1] + past[0].shape[2]
        mask = torch.ones(1, length, dtype=torch.long)
        positions = torch.arange(past[0].shape[2], length).unsqueeze(0)
        with torch.no_grad():
            expected = wrapper(ids, mask, positions, *past)
        got = session.run(None, dict(zip(names, [t.numpy() for t in (ids, mask, positions, *past)])))
        worst = max(worst, float((torch.from_numpy(got[0]) - expected[0]).abs().max()))
        ids, past = expected[0][:, -1:].argmax(-1), list(expected[1:])
    return worst
