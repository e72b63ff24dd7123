"""Models, data and the FLOPs formula for the trainer benchmark (`npm run bench -- trainer`).

Models: the tiny fixture, a ~50M-parameter random Llama (CPU), and random-init models with the
exact shapes of Qwen2.5-0.5B, Llama-3.2-1B, Qwen2.5-7B and Llama-3.1-8B (GPU), built from their
config values (no download) and saved once as model folders under the cache, with the fixture's
tokenizer and chat template (its ids, < 1,000, are valid in every vocabulary). Throughput does not
depend on the weights' values, only on the shapes, so random weights measure what real ones would.

Data: chat conversations whose token lengths follow a log-normal law like instruction-tuning sets
(prompt median 6% of the context, answer median 12%, σ 0.8, e.g. 123 and 246 tokens at 2,048;
about one sample in 200 is over the context and dropped), words drawn from the fixture corpus.

FLOPs per trained token (ALGORITHMS.md, the same formula as engine/plan/estimate.ts):
    LoRA: 4·N_frozen + 6·N_lora + 12·n_layers·d_model·T        full: 6·N + 12·n_layers·d_model·T
forward 2N, backward activation gradients 2N, weight gradients 2N only for trained weights; the
attention term as in PaLM appendix B / nanoGPT with T the context length (max_length); N without
the input embedding table, with the output head (a tied head counts once). MFU = FLOPs per token ×
real tokens per second / peak FLOP/s of the device.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import numpy as np

TINY = "tiny"
# Shapes copied from the models' published config.json files (hidden, layers, heads, kv heads, MLP, vocab, tied head).
SHAPES: dict[str, dict] = {
    "llama-50m": dict(model_type="llama", hidden_size=512, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=8,
                      intermediate_size=1536, vocab_size=32000, tie_word_embeddings=False, rope_theta=10000.0),
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True, rope_theta=1000000.0),
    "llama-3.2-1b": dict(model_type="llama", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         intermediate_size=8192, vocab_size=128256, tie_word_embeddings=True, rope_theta=500000.0),
    "qwen2.5-7b": dict(model_type="qwen2", hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                       intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False, rope_theta=1000000.0),
    "llama-3.1-8b": dict(model_type="llama", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False, rope_theta=500000.0),
}
CPU_SHAPES = [TINY, "llama-50m"]
GPU_SHAPES = ["qwen2.5-0.5b", "llama-3.2-1b", "qwen2.5-7b", "llama-3.1-8b"]

# Dense bf16 peak FLOP/s (fp32 on CPU is measured instead, see measure_cpu_peak).
GPU_PEAKS = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12), ("4090", 165e12), ("A10", 125e12)]


def model_folder(shape: str, cache: Path, tiny_dir: Path, device: str = "cpu") -> Path:
    """A model folder for `shape` (the fixture itself for "tiny"), built once with seeded random weights."""
    if shape == TINY:
        return tiny_dir
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join([TINY, *SHAPES])}")
    folder = cache / shape
    stamp = folder / "whetstone-bench.json"
    spec = dict(SHAPES[shape], max_position_embeddings=4096)
    if stamp.is_file() and json.loads(stamp.read_text()) == spec:
        return folder
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    kind = spec.pop("model_type")
    config = AutoConfig.for_model(kind, **spec, bos_token_id=0, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(0)
    dtype = torch.float32 if shape == "llama-50m" else torch.bfloat16
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny_dir / name, tmp / name)
    (tmp / "whetstone-bench.json").write_text(json.dumps(dict(spec, model_type=kind)))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def write_dataset(path: Path, tokenizer, corpus: Path, n: int, context: int, seed: int = 0) -> dict:
    """n conversations with log-normal prompt/answer token lengths for a `context`-token window."""
    rng = random.Random(seed)
    words = corpus.read_text(encoding="utf-8").split()
    probe = " ".join(rng.choice(words) for _ in range(2000))
    tokens_per_word = len(tokenizer(probe, add_special_tokens=False)["input_ids"]) / 2000

    def text(tokens: float) -> str:
        return " ".join(rng.choice(words) for _ in range(max(1, round(tokens / tokens_per_word))))

    nrng = np.random.default_rng(seed)
    prompts = nrng.lognormal(math.log(0.06 * context), 0.8, n)
    answers = nrng.lognormal(math.log(0.12 * context), 0.8, n)
    with path.open("w", encoding="utf-8") as f:
        for p, a in zip(prompts, answers):
            f.write(json.dumps({"messages": [{"role": "user", "content": text(p)}, {"role": "assistant", "content": text(a)}]}) + "\n")
    return {"samples": n, "prompt_median_tokens": round(0.06 * context), "answer_median_tokens": round(0.12 * context), "sigma": 0.8}


def flops_per_token(model, context: int, finetune: str) -> float:
    """Training FLOPs per real token (module doc), from the model's own parameter counts."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    total = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    embed = base.get_input_embeddings().weight
    head = base.get_output_embeddings()
    tied = head is not None and getattr(head, "weight", None) is embed
    n = total - (0 if tied else embed.numel())
    layers, hidden = base.config.num_hidden_layers, base.config.hidden_size
    attention = 12 * layers * hidden * context
    return 6 * n + attention if finetune == "full" else 4 * n + 6 * lora + attention


def gpu_peak(name: str) -> float | None:
    return next((peak for key, peak in GPU_PEAKS if key in name), None)


def measure_cpu_peak(seconds: float = 2.0) -> float:
    """fp32 FLOP per CPU-second of a large matmul with torch's threads (one, in the benchmark): the
    denominator of CPU 'MFU', in process CPU time like the training rates, so a busy machine moves neither."""
    import time

    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.process_time()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * 1024**3 / max(time.process_time() - t0, 1e-9))
    return best
