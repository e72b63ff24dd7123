"""Format name → writer. A writer is a module or class with three functions:

validate(command)          refuse option combinations that make no sense for the format (before any work)
estimate(source, command)  bytes the export will take on disk, from the checkpoint headers alone
write(context)             write the files into context.staging, reporting progress per tensor
"""

from __future__ import annotations


import importlib

from ...errors import WorkerError

# Format → (module, attribute or None for the module itself); imported on first use (onnx and gguf are heavy).
WRITERS = {
    "safetensors": ("safetensors_out", "Merged"),
    "adapter": ("safetensors_out", "Adapter"),
    "gguf": ("gguf_out", None),
    "ollama": ("ollama_out", None),
    "onnx": ("onnx_out", None),
}


def get(fmt: str):
    if fmt not in WRITERS:
        raise WorkerError("EXPORT_UNSUPPORTED", f"Unknown export format {fmt!r}.", f"Use one of {', '.join(WRITERS)}.")
    module, attribute = WRITERS[fmt]
    loaded = importlib.import_module(f".{module}", __package__)
    return getattr(loaded, attribute) if attribute else loaded
