"""The one exception type that becomes an `error` event, and the out-of-memory translation.

Anything the user can act on is raised as `WorkerError(code, message, hint, recoverable)` where it
is detected (that is where the file, line and field are known); `__main__` turns it into the event.
Everything else is a bug and becomes INTERNAL with the traceback on stderr. The trade-off: raise
sites must write a good hint, but the dispatcher stays a dumb translator.
"""

from __future__ import annotations

import errno
import shutil
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


DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def is_disk_full(err: BaseException, folder: Path | None = None) -> bool:
    """ENOSPC / EDQUOT, also when a library wrapped or retold the OSError: torch.save raises a RuntimeError,
    safetensors a SafetensorError ("I/O error: No space left on device (os error 28)"), others chain it.
    Given the folder that was being written, also any error that left it (nearly) no free space: torch's
    zip writer can report a short write only as "unexpected pos 64 vs 0", with no errno at all."""
    if folder is not None and (free := free_bytes(folder)) is not None and free < (1 << 20):
        return True
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS:
            return True
        text = str(err)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def free_bytes(folder: Path) -> int | None:
    for p in (Path(folder), *Path(folder).parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def disk_full(folder: Path, what: str, last_checkpoint: Path | None, needed: int | None = None) -> WorkerError:
    """DISK_FULL naming the folder, the free space and what to free; the run is resumable."""
    free = free_bytes(folder)
    space = f"{_gb(free)} free" if free is not None else "free space unknown"
    need = f"; it needs about {_gb(needed)}" if needed else ""
    where = (f" The last good checkpoint, {last_checkpoint}, is intact." if last_checkpoint
             else " No checkpoint was written yet.")
    return WorkerError(
        "DISK_FULL",
        f"The disk is full: could not write {what} in {folder} ({space}{need}).{where}",
        f"Free space on the drive that holds {folder}: delete runs you no longer need (each run folder holds its "
        "checkpoints), old exports, or other large files; or move the Whetstone data folder to a bigger drive. "
        "Then resume the run: it continues from its last complete checkpoint.",
        recoverable=True,
    )


class Cancelled(Exception):
    """A job stopped at a cancel request, between units of work; the server answers `done` cancelled."""
