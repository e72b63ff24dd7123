"""Which accelerator we run on, how we describe it in `hello`, and which precision we train in.

Precision is two separate choices that users often conflate:
- the dtype the weights are *stored* in (config.model.dtype), which sets memory use;
- the dtype the math *runs* in (config.training.precision), via autocast.
`auto` picks: CUDA with bf16 → bf16 autocast, and bf16 storage for a frozen LoRA base (full
fine-tuning keeps fp32 master weights, because AdamW updates on bf16 weights lose small steps);
everything else → fp32. On MPS `auto` stays fp32: fp16 autocast works there but without a bf16
fallback a diverging run is hard to diagnose, so it is opt-in (precision: fp16). CPU fp16 is
refused: it is slower than fp32 on CPUs and unsupported by many kernels.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import torch

from .errors import WorkerError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_fast(device: torch.device) -> bool:
    """bf16 with hardware support (CUDA compute capability ≥ 8.0); CPUs and MPS report False."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def describe_device() -> dict:
    """The `device` object of the hello event."""
    device = pick_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        return {
            "kind": "cuda",
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_bytes": props.total_memory,
            "bf16": bf16_fast(device),
            "capability": f"{props.major}.{props.minor}",
        }
    if device.type == "mps":
        memory = torch.mps.recommended_max_memory() if hasattr(torch.mps, "recommended_max_memory") else _ram_bytes()
        return {"kind": "mps", "name": platform.processor() or "Apple GPU", "count": 1, "memory_bytes": memory, "bf16": False, "capability": None}
    return {"kind": "cpu", "name": _cpu_name(), "count": 1, "memory_bytes": _ram_bytes(), "bf16": False, "capability": None}


@dataclass(frozen=True)
class Precision:
    weights: torch.dtype  # dtype the model is loaded in
    autocast: torch.dtype | None  # dtype of autocast regions, None = plain fp32/weights dtype math
    grad_scaler: bool  # fp16 autocast needs loss scaling (small gradients underflow in fp16)

    def describe(self) -> str:
        name = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        compute = f"{name[self.autocast]} autocast" if self.autocast else "no autocast"
        return f"{name[self.weights]} weights, {compute}"


def choose_precision(precision: str, dtype: str, finetune: str, device: torch.device) -> Precision:
    """Resolve config.training.precision and config.model.dtype for `device` (see module doc)."""
    kind = device.type
    if precision == "auto":
        compute = torch.bfloat16 if bf16_fast(device) else None
    elif precision == "bf16":
        if kind == "mps" or (kind == "cuda" and not bf16_fast(device)):
            raise WorkerError(
                "CONFIG_INVALID",
                f"training.precision is bf16 but this {kind} device has no bf16 support.",
                "Set training.precision to fp16 (GPU) or fp32, or auto to let Whetstone choose.",
            )
        compute = torch.bfloat16
    elif precision == "fp16":
        if kind == "cpu":
            raise WorkerError(
                "CONFIG_INVALID",
                "training.precision is fp16 but training runs on the CPU, where fp16 is slow and poorly supported.",
                "Set training.precision to fp32 or auto.",
            )
        compute = torch.float16
    else:
        compute = None

    if dtype != "auto":
        weights = _DTYPES[dtype]
        if finetune == "full" and weights == torch.float16:
            raise WorkerError(
                "CONFIG_INVALID",
                "Full fine-tuning with float16 weights: the optimizer cannot update fp16 weights reliably.",
                "Set model.dtype to auto or float32 (training.precision fp16 still gives fp16 math).",
            )
    elif finetune in ("lora", "qlora") and compute is not None and kind == "cuda":
        weights = compute  # frozen base: storing it in the compute dtype halves memory at no cost
    else:
        weights = torch.float32
    return Precision(weights=weights, autocast=compute, grad_scaler=compute == torch.float16)


def inference_device() -> tuple[torch.device, torch.dtype]:
    """Where a one-shot model job (generation, audit, benchmark) runs, and its weights' dtype: bf16 where it is fast, else float32."""
    device = pick_device()
    return device, choose_precision("auto", "auto", "lora", device).weights
