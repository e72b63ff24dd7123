"""Driver of the trainer benchmark; bench/trainer.ts runs one configuration per process with it, so
each process's peak memory (CUDA allocator peak, or resident set on CPU) belongs to one
configuration only.

    python -m whetstone_bench.trainer prepare --cache DIR --tiny DIR --corpus FILE --shapes a,b --context T --samples N
    python -m whetstone_bench.trainer run --arm ours|hf --config RESOLVED.json --steps S --micro-batch B --warmup W
    python -m whetstone_bench.trainer peak

`prepare` builds the model folders and the dataset and measures how many samples a packed row holds
(so the baseline's padded micro-batch can hold as many samples as our packed one). `run` trains one
configuration: "ours" is the real SFT recipe (recipes/sft.py) on the resolved run config the engine
produced; "hf" is transformers Trainer + PEFT (hf_baseline.py) on the same tokenized samples, model
folder, LoRA config, learning rate, seed and number of optimizer steps. Progress goes to stderr as
`step k/S`; the result is the last stdout line, JSON. Timing excludes the first `warmup` steps
(allocator growth, autotuning, compilation).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import shapes


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _peak_memory() -> dict:
    if torch.cuda.is_available():
        return {"peak_memory_bytes": torch.cuda.max_memory_allocated(), "memory_kind": "CUDA allocator peak"}
    if sys.platform == "win32":
        import psutil

        return {"peak_memory_bytes": psutil.Process().memory_info().peak_wset, "memory_kind": "peak working set"}
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, "memory_kind": "peak resident set"}


def _summary(ends: list[float], cpu_ends: list[float], losses: list[float], real: list[int], padded: list[int], warmup: int, model,
             context: int, finetune: str) -> dict:
    """Rates over the steps after `warmup`. On CPU also per CPU-second of this process (one thread):
    unlike wall time, that does not move when other programs take the shared cores."""
    if not 0 < warmup < len(ends):
        raise SystemExit(f"need warmup >= 1 and more than {warmup} steps to time, got {len(ends)} steps")
    timed = range(warmup, len(ends))
    durations = [ends[k] - ends[k - 1] for k in timed]
    tokens = sum(real[k] for k in timed)
    fpt = shapes.flops_per_token(model, context, finetune)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    tps = tokens / (ends[-1] - ends[warmup - 1])
    cpu = None if torch.cuda.is_available() else tokens / (cpu_ends[-1] - cpu_ends[warmup - 1])
    return {
        "steps": len(ends), "timed_steps": len(timed), "tokens_per_s": tps, "tokens_per_cpu_s": cpu,
        "step_time_s": statistics.median(durations),
        "real_tokens_per_step": statistics.mean(real), "computed_tokens_per_step": statistics.mean(padded),
        "loss_first": losses[0], "loss_last": losses[-1], "losses": losses, "flops_per_token": fpt,
        "achieved_flops": (cpu or tps) * fpt, "device": device, **_peak_memory(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,  # others' work on a shared machine skews timings
    }


def run_ours(config_path: Path, steps: int, warmup: int) -> dict:
    from whetstone_worker.config import parse_run_config
    from whetstone_worker.errors import WorkerError
    from whetstone_worker.protocol import Emitter
    from whetstone_worker.recipes.sft import SFTRecipe

    raw = json.loads(config_path.read_text())
    raw["training"]["max_steps"] = steps
    config = parse_run_config(raw)
    ends, cpu_ends, events = [], [], []

    def write(line: str) -> None:
        event = json.loads(line)
        if event["type"] == "metrics":
            _sync()
            ends.append(time.perf_counter())
            cpu_ends.append(time.process_time())
            events.append(event)
            print(f"step {event['step']}/{steps}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="whetstone-bench-") as run_dir:
        recipe = SFTRecipe("bench", Path(run_dir), config, Emitter(write), lambda: False)
        try:
            recipe.run(False)
        except WorkerError as err:  # e.g. qlora or liger where the platform lacks them: reported, not fatal
            return {"skipped": f"{err.code}: {err.message}"}
        real = [b["tokens"] - a["tokens"] for a, b in zip([{"tokens": 0}, *events], events)]
        computed = [_computed_tokens(recipe, k) for k in range(len(events))]
        out = _summary(ends, cpu_ends, [e["loss"] for e in events], real, computed, warmup, recipe.model, config.data.max_length, config.finetune)
        out["layout"] = recipe.layout
        out["speedups"] = recipe.speed.summary
        return out


def _computed_tokens(recipe, step: int) -> int:
    """Token positions the model computed in `step`, padding included (sdpa rows are padded to the
    micro-batch's longest row, padded batches to the longest sample; varlen has no padding)."""
    plan, total = recipe.plan, 0
    for g in plan.step_micro(step):
        widths = [sum(len(recipe.samples[i].ids) for i in row) for row in plan.micro_rows(g)]
        total += sum(widths) if recipe.layout == "varlen" else max(widths) * len(widths)
    return total


def run_hf(config_path: Path, steps: int, warmup: int, micro_batch: int, trl: bool = False) -> dict:
    from whetstone_worker.config import parse_run_config
    from whetstone_worker.data.chat import build_samples
    from whetstone_worker.modeling import load_tokenizer
    from .hf_baseline import run_hf_trainer

    config = parse_run_config(json.loads(config_path.read_text()))
    train = config.training
    tokenizer = load_tokenizer(config.model.path, False)
    samples, _ = build_samples(tokenizer, Path(config.data.train), config.data.max_length, config.data.overlong)
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    with tempfile.TemporaryDirectory(prefix="whetstone-bench-hf-") as out_dir:
        record = run_hf_trainer(
            config.model.path, tokenizer, samples, micro_batch=micro_batch, accumulation=train.gradient_accumulation, steps=steps,
            lr=train.learning_rate, seed=train.seed, lora=config.lora, bf16=bf16, max_grad_norm=train.max_grad_norm or math.inf,
            out_dir=out_dir, gradient_checkpointing=train.gradient_checkpointing,
            on_step=lambda k: print(f"step {k}/{steps}", file=sys.stderr, flush=True), trl_padding_free=trl,
        )
    out = _summary(record["step_end_s"], record["step_end_cpu_s"], record["losses"], record["real_tokens"], record["padded_tokens"], warmup, record["model"],
                   config.data.max_length, config.finetune)
    out["layout"] = f"TRL padding-free, {record['model'].config._attn_implementation}" if trl else "padded batches, default attention (sdpa)"
    return out


def prepare(args) -> dict:
    from whetstone_worker.data.batches import make_plan
    from whetstone_worker.data.chat import build_samples
    from whetstone_worker.modeling import load_tokenizer

    cache, tiny_dir = Path(args.cache), Path(args.tiny)
    cache.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    models = {s: str(shapes.model_folder(s, cache / "models", tiny_dir, device)) for s in args.shapes.split(",")}
    tokenizer = load_tokenizer(tiny_dir, False)
    data = cache / f"chat-{args.context}-{args.samples}.jsonl"
    spec = shapes.write_dataset(data, tokenizer, Path(args.corpus), args.samples, args.context)
    samples, report = build_samples(tokenizer, data, args.context, "drop")
    lengths = np.array([len(s.ids) for s in samples])
    plan = make_plan(len(samples), 1, 1, 1, None, 0, lengths=lengths, capacity=args.context)
    rows = plan.rows_in_epoch(0)
    return {
        "models": models, "data": str(data), "distribution": spec, "samples": len(samples), "dropped": sum(report.dropped.values()),
        "mean_length": float(lengths.mean()), "median_length": float(np.median(lengths)), "p95_length": float(np.percentile(lengths, 95)),
        "samples_per_row": len(samples) / rows, "fill": float(lengths.sum() / (rows * args.context)),
        **_peak(device),
    }


def _peak(device: str) -> dict:
    if device == "cpu":
        return {"peak_flops": shapes.measure_cpu_peak(), "peak_source": f"measured fp32 matmul, {torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}"}
    name = torch.cuda.get_device_name(0)
    return {"peak_flops": shapes.gpu_peak(name), "peak_source": f"{name} dense bf16 datasheet"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="whetstone_bench.trainer")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--cache", required=True)
    p.add_argument("--tiny", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--shapes", required=True)
    p.add_argument("--context", type=int, required=True)
    p.add_argument("--samples", type=int, required=True)
    r = sub.add_parser("run")
    r.add_argument("--arm", choices=["ours", "hf", "trl"], required=True)
    r.add_argument("--config", required=True)
    r.add_argument("--steps", type=int, required=True)
    r.add_argument("--warmup", type=int, default=1)
    r.add_argument("--micro-batch", type=int, help="hf: samples per padded micro-batch")
    for sp in (p, r):
        sp.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "prepare":
        result = prepare(args)
    elif args.arm == "ours":
        result = run_ours(Path(args.config), args.steps, args.warmup)
    elif args.arm == "trl" and importlib.util.find_spec("trl") is None:
        result = {"skipped": "trl is not installed (it is a test-only dependency: pip install -r requirements-dev.txt)"}
    else:
        try:
            result = run_hf(Path(args.config), args.steps, args.warmup, args.micro_batch, trl=args.arm == "trl")
        except torch.OutOfMemoryError:
            peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
            result = {"skipped": f"OUT_OF_MEMORY (peak {peak:.1f} GiB allocated); a smaller --rows fits"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
