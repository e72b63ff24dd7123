"""The `preflight` command: one training step at the configured shape, to measure the real peak memory.

The model is set up exactly as the run's recipe sets it up, through the recipe's public API (its own
`load_model`: precision, LoRA or full, gradient checkpointing, attention layout, speed-ups, the AdamW
optimizer; where the method needs a reference, the reference as configured: the adapter-disabled
base, a frozen copy of the weights, or precomputed log-probs), AdamW's moments are allocated first
(as they are from the second step of a run on), then one micro-batch of full rows of `max_length`
tokens goes forward and backward through the recipe's own loss (its `probe_loss`) and the optimizer
steps. A full row is the worst case the run can meet: packed rows are full by construction. SFT:
`micro_batch_size` rows. Preference methods: `micro_batch_size` pairs, i.e. 2 × `micro_batch_size`
rows (chosen and rejected in one forward pass; KTO: the rows and their mismatched rows), every token
after the first a response token (policy forward, the reference pass, the method's loss).

Measured: on CUDA `torch.cuda.max_memory_allocated` (what the allocator handed out; the reserved
pool is reported too); on the CPU the process's peak resident set (Linux: VmHWM, reset first through
/proc/self/clear_refs; elsewhere `ru_maxrss`), which includes the Python runtime, as the estimate's
overhead term does. An out-of-memory error is not a failure of
the command: it is the answer (`fits: false`), so the engine can stop the run and give the advice.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
import time
from pathlib import Path

import torch

from ..config import PREFERENCE_METHODS, RunConfig
from ..device import _ram_bytes
from ..protocol import Emitter


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def reset_peak_rss() -> bool:
    """Linux: restart the peak-RSS counter (VmHWM) so earlier work in this process does not count.
    Memory freed earlier but still held by the C allocator is handed back first (glibc malloc_trim),
    so the baseline is what is live and this step's own allocations raise the peak."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
        # Every tensor of 128 KiB or more in a mapping of its own, returned to the system when freed
        # (glibc otherwise raises this threshold as large blocks are freed and keeps them in its heap),
        # so the peak RSS follows the live tensors. The preflight's worker process exits after the step.
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
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


def run(job_id: str, message: dict, emitter: Emitter, cancelled) -> dict:
    from ..recipes import preference as preference_recipe
    from ..recipes.policy import check_config
    from ..recipes.sft import SFTRecipe

    cfg: RunConfig = message["config"]
    preference = cfg.method in PREFERENCE_METHODS
    if preference:
        check_config(cfg)
        recipe = preference_recipe.recipe_for(job_id, Path("."), cfg, emitter, cancelled)
    else:
        recipe = SFTRecipe(job_id, Path("."), cfg, emitter, cancelled)
    loop = recipe.loop  # no data is read: the step uses synthetic full rows
    device = loop.device
    loop.choose_precision()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    baseline = peak_rss_bytes()
    t0 = time.monotonic()
    pairs, length = cfg.training.micro_batch_size, cfg.data.max_length
    # Rows of one micro-batch: pairs are two rows each (KTO: a row and its mismatched row), GRPO's prompts
    # num_generations completions each.
    rows = pairs * cfg.preference.num_generations if cfg.method == "grpo" else 2 * pairs if preference else pairs
    oom = False
    try:
        recipe.load_model(None)
        model = recipe.model
        # Steady state, not the first step: from the second step on, AdamW's moments stay allocated
        # while the activations of the next forward pass build up. Allocate them now (one step on
        # zero gradients; the model is thrown away after the measurement).
        for p in loop.params:
            p.grad = torch.zeros_like(p)
        loop.optimizer.step()
        loop.optimizer.zero_grad(set_to_none=True)
        vocab = model.get_input_embeddings().num_embeddings
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (rows, length), generator=generator)
        emitter.emit("progress", id=job_id, phase="preflight", current=0, total=1, unit="step", elapsed_s=round(time.monotonic() - t0, 3), eta_s=None,
                     message=f"one {cfg.method} step of {f'{rows} completions' if cfg.method == 'grpo' else f'{pairs} pairs ({rows} rows)' if preference else rows} × {length} tokens on {device.type}")
        loss = recipe.probe_loss(ids)  # the recipe moves the batch to the device itself
        if loop.scaler is not None:
            loop.scaler.scale(loss).backward()
            loop.scaler.step(loop.optimizer)
            loop.scaler.update()
        else:
            loss.backward()
            loop.optimizer.step()
        loop.optimizer.zero_grad(set_to_none=True)
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
    return {
        "device": device.type,
        "measure": measure,
        "peak_bytes": peak,
        "reserved_bytes": reserved,
        "baseline_bytes": baseline,
        "limit_bytes": limit,
        "out_of_memory": oom,
        "fits": not oom and (peak is None or limit is None or peak <= limit),
        "method": cfg.method,
        "micro_batch_size": pairs,
        "rows": rows,
        "max_length": length,
        "seconds": round(seconds, 3),
    }
