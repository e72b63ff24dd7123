"""The one exception type that becomes an `error` event, and the out-of-memory translation.

Anything the user can act on is raised as `WorkerError(code, message, hint, recoverable)` where it
is detected (that is where the file, line and field are known); `__main__` turns it into the event.
Everything else is a bug and becomes INTERNAL with the traceback on stderr. The trade-off: raise
sites must write a good hint, but the dispatcher stays a dumb translator.
"""

from __future__ import annotations

from pathlib import Path


class WorkerError(Exception):
    def __init__(self, code: str, message: str, hint: str, recoverable: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.recoverable = recoverable

    def event_fields(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint, "recoverable": self.recoverable}


def out_of_memory(phase: str, device_kind: str, last_checkpoint: Path | None) -> WorkerError:
    """An OUT_OF_MEMORY error for `phase` with the memory figures we have and the knobs that help."""
    figures = ""
    if device_kind == "cuda":
        import torch

        gib = 1024**3
        free, total = torch.cuda.mem_get_info()
        figures = (
            f" (peak allocated {torch.cuda.max_memory_allocated() / gib:.1f} GiB, "
            f"free {free / gib:.1f} of {total / gib:.1f} GiB)"
        )
    where = f" The last good checkpoint is {last_checkpoint}." if last_checkpoint else ""
    return WorkerError(
        "OUT_OF_MEMORY",
        f"Out of {device_kind} memory during {phase}{figures}.{where}",
        "Start a run with a smaller training.micro_batch_size and a larger training.gradient_accumulation "
        "(same effective batch), turn on training.gradient_checkpointing, or lower data.max_length. "
        "Closing other programs that use the GPU also helps; a resumed run keeps its checkpoint's settings.",
        recoverable=True,
    )
