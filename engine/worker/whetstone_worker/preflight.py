"""The `preflight` command: one training step at the configured shape, to measure the real peak memory.

The model is set up exactly as the SFT recipe sets it up (its own `_load_model`: precision, LoRA or
full, gradient checkpointing, attention layout, speed-ups, the AdamW optimizer), AdamW's moments are
allocated first (as they are from the second step of a run on), then one micro-batch of
`micro_batch_size` full rows of `max_length` tokens goes forward and backward and the optimizer steps. A full row is the worst
case the run can meet: packed rows are full by construction.

Measured: on CUDA `torch.cuda.max_memory_allocated` (what the allocator handed out; the reserved
pool is reported too); on the CPU the process's peak resident set (Linux: VmHWM, reset first through
/proc/self/clear_refs; elsewhere `ru_maxrss`), which includes the Python runtime, as the estimate's
overhead term does. An out-of-memory error is not a failure of
the command: it is the answer (`fits: false`), so the engine can stop the run and give the advice.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import torch

from .config import RunConfig
from .device import _ram_bytes
from .protocol import Emitter


def reset_peak_rss() -> bool:
    """Linux: restart the peak-RSS counter (VmHWM) so earlier work in this process does not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """The process's peak resident set (since reset_peak_rss on Linux; None on Windows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def run(job_id: str, message: dict, emitter: Emitter, cancelled) -> None:
    from .recipes.sft import SFTRecipe

    cfg: RunConfig = message["config"]
    recipe = SFTRecipe(job_id, Path("."), cfg, emitter, cancelled)
    device = recipe.device
    from .device import choose_precision

    recipe.precision = choose_precision(cfg.training.precision, cfg.model.dtype, cfg.finetune, device)
    recipe.samples = []  # no data is read: the step uses synthetic full rows
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    baseline = peak_rss_bytes()
    t0 = time.monotonic()
    rows, length = cfg.training.micro_batch_size, cfg.data.max_length
    oom = False
    try:
        recipe._load_model(None)
        model = recipe.model
        # Steady state, not the first step: from the second step on, AdamW's moments stay allocated
        # while the activations of the next forward pass build up. Allocate them now (one step on
        # zero gradients; the model is thrown away after the measurement).
        for p in recipe.params:
            p.grad = torch.zeros_like(p)
        recipe.optimizer.step()
        recipe.optimizer.zero_grad(set_to_none=True)
        vocab = model.get_input_embeddings().num_embeddings
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (rows, length), generator=generator).to(device)
        emitter.emit("progress", id=job_id, phase="preflight", current=0, total=1, unit="step", elapsed_s=round(time.monotonic() - t0, 3), eta_s=None,
                     message=f"one step of {rows} × {length} tokens on {device.type}")
        autocast = torch.autocast(device.type, dtype=recipe.precision.autocast) if recipe.precision.autocast else contextlib.nullcontext()
        with autocast:  # the recipe's own loss path (chunked cross-entropy, Liger, offload as configured)
            loss = recipe.speed.loss_sum(model, {"input_ids": ids}, ids) / ids.numel()
        if recipe.scaler is not None:
            recipe.scaler.scale(loss).backward()
            recipe.scaler.step(recipe.optimizer)
            recipe.scaler.update()
        else:
            loss.backward()
            recipe.optimizer.step()
        recipe.optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
    except torch.OutOfMemoryError:
        oom = True
    except Exception as err:  # the recipe raises WorkerError(OUT_OF_MEMORY) from its own guard
        if getattr(err, "code", None) != "OUT_OF_MEMORY":
            raise
        oom = True
    seconds = time.monotonic() - t0
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
        reserved = torch.cuda.max_memory_reserved()
        limit = torch.cuda.mem_get_info()[1]
        measure = "cuda max_memory_allocated"
    else:
        peak, reserved, limit = peak_rss_bytes(), None, _ram_bytes()
        measure = "peak RSS" if peak is not None else "unavailable"
    emitter.emit("progress", id=job_id, phase="preflight", current=1, total=1, unit="step", elapsed_s=round(seconds, 3), eta_s=0,
                 message="out of memory" if oom else f"peak {peak / 2**30:.2f} GiB ({measure})" if peak else "done")
    emitter.emit("done", id=job_id, status="completed", result={
        "device": device.type,
        "measure": measure,
        "peak_bytes": peak,
        "reserved_bytes": reserved,
        "baseline_bytes": baseline,
        "limit_bytes": limit,
        "out_of_memory": oom,
        "fits": not oom and (peak is None or limit is None or peak <= limit),
        "micro_batch_size": rows,
        "max_length": length,
        "seconds": round(seconds, 3),
    })
