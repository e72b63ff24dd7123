"""What an export's writers share with the job that runs them: the context they write in, progress with
an ETA and cancel between tensors, and the constants of the export folder. Its own module so that the
format writers (safetensors_out, gguf_out, onnx_out) and the merge job import it without importing
the export job, which imports the writers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..protocol import Emitter
from .source import WeightSource

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MB = 1_000_000  # shard sizes count in MB, as transformers' max_shard_size does
SPACE_MARGIN = 1.05  # headers, tokenizer and card on top of the weights
SPACE_SLACK = 32 * 2**20
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json")


class Cancelled(Exception):
    pass


class Progress:
    """`progress` events for one phase at a time, at most every 0.2 s, with an ETA from the phase's rate."""

    def __init__(self, job_id: str, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.emitter, self.cancelled = job_id, emitter, cancelled
        self.t0 = time.monotonic()
        self.phase, self.total, self.unit, self.current = "load", None, "", 0.0
        self.phase_start, self.last = self.t0, 0.0

    def start(self, phase: str, total: float | None, unit: str, message: str) -> None:
        self.phase, self.total, self.unit, self.current = phase, total, unit, 0.0
        self.phase_start = time.monotonic()
        self._emit(message, eta=None)

    def advance(self, amount: float, message: str) -> None:
        """Count `amount` done; raises Cancelled when a cancel arrived (callers are between tensors)."""
        self.current += amount
        now = time.monotonic()
        if now - self.last >= 0.2 or (self.total is not None and self.current >= self.total):
            elapsed = now - self.phase_start
            eta = None
            if self.total and self.current > 0:
                eta = max(0.0, elapsed * (self.total - self.current) / self.current)
            self._emit(message, eta)
        if self.cancelled():
            raise Cancelled

    def check(self) -> None:
        if self.cancelled():
            raise Cancelled

    def _emit(self, message: str, eta: float | None) -> None:
        self.last = time.monotonic()
        self.emitter.emit("progress", id=self.id, phase=self.phase, current=round(self.current, 3), total=self.total,
                          unit=self.unit, elapsed_s=round(self.last - self.t0, 3),
                          eta_s=None if eta is None else round(eta, 1), message=message)


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
