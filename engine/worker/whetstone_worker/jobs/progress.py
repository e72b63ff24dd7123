"""Progress events for one phase of a job at a time, throttled, with an ETA from the phase's rate and a
cancel check at every step. Shared by the export, merge and push jobs; free of torch, so a job that
needs only huggingface_hub (push) imports it without the export's dependencies."""

from __future__ import annotations

import time
from typing import Callable

from ..errors import Cancelled
from ..protocol import Emitter


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
        """Count `amount` done; raises Cancelled when a cancel arrived (callers are between units of work: tensors, file chunks)."""
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
