"""`python -m whetstone_worker.doctor`: what this Python environment can do, as one JSON object.

The engine's `whetstone doctor` turns this (with nvidia-smi and disk figures it gathers itself)
into findings with fixes. The probe only observes: it imports optional packages to see whether
they work, never installs or downloads, and a failing import is reported, not raised, so a broken
environment still produces a report. Kept separate from the protocol so it runs even when the
worker itself cannot start.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _feature(module: str, package: str, check=None) -> dict:
    version = _version(package)
    if version is None:
        return {"installed": False, "version": None, "usable": False, "why": f"{package} is not installed"}
    try:
        imported = __import__(module)
        if check is not None:
            check(imported)
    except Exception as err:  # noqa: BLE001 - any import-time failure makes the feature unusable
        return {"installed": True, "version": version, "usable": False, "why": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
    return {"installed": True, "version": version, "usable": True, "why": None}


def probe() -> dict:
    report: dict = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": {name: _version(name) for name in ("torch", "transformers", "peft", "accelerate", "safetensors", "tokenizers", "huggingface_hub")},
    }
    try:
        import torch
    except Exception as err:  # noqa: BLE001
        report["torch"] = {"importable": False, "error": f"{type(err).__name__}: {err}"}
        return report
    cuda = torch.cuda.is_available()
    devices = []
    for i in range(torch.cuda.device_count() if cuda else 0):
        props = torch.cuda.get_device_properties(i)
        devices.append({
            "name": props.name,
            "total_memory": props.total_memory,
            "capability": f"{props.major}.{props.minor}",
            "bf16": props.major >= 8,
        })
    mps = getattr(torch.backends, "mps", None)
    report["torch"] = {
        "importable": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "hip_build": getattr(torch.version, "hip", None),
        "cuda_available": cuda,
        "mps_built": bool(mps and mps.is_built()),
        "mps_available": bool(mps and mps.is_available()),
        "devices": devices,
    }
    report["features"] = {
        "flash_attn": _feature("flash_attn", "flash-attn"),
        "bitsandbytes": _feature("bitsandbytes", "bitsandbytes"),
        "liger_kernel": _feature("liger_kernel", "liger-kernel"),
    }
    return report


if __name__ == "__main__":
    json.dump(probe(), sys.stdout, indent=2)
    sys.stdout.write("\n")
