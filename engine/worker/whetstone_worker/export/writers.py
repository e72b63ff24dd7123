"""Format name → writer. A writer is a module or class with three functions:

validate(command)          refuse option combinations that make no sense for the format (before any work)
estimate(source, command)  bytes the export will take on disk, from the checkpoint headers alone
write(context)             write the files into context.staging, reporting progress per tensor
"""

from __future__ import annotations


def get(fmt: str):
    if fmt == "safetensors":
        from .safetensors_out import Merged

        return Merged
    if fmt == "adapter":
        from .safetensors_out import Adapter

        return Adapter
    if fmt == "gguf":
        from . import gguf_out

        return gguf_out
    from . import onnx_out

    return onnx_out
