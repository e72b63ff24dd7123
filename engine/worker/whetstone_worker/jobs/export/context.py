"""What an export's writers share with the job that runs them: the context they write in, progress with
an ETA and cancel between tensors (jobs/progress.py), and the constants of the export folder. Its own
module so that the format writers (safetensors_out, gguf_out, onnx_out) and the merge job import it
without importing the export job, which imports the writers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ...errors import Cancelled  # noqa: F401 (re-exported for the writers and the merge job)
from ..progress import Progress
from .source import WeightSource

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MB = 1_000_000  # shard sizes count in MB, as transformers' max_shard_size does
SPACE_MARGIN = 1.05  # headers, tokenizer and card on top of the weights
SPACE_SLACK = 32 * 2**20
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json")


@dataclass
class Context:
    """What a format writer needs: where to write, what, how, and whom to tell."""

    command: dict
    source: WeightSource
    staging: Path
    tokenizer_dir: Path
    dtype: torch.dtype
    shard_bytes: int
    progress: Progress
    log: Callable[[str], None]
    checks: dict  # filled by writers that verify their output (e.g. ONNX logits vs PyTorch)
