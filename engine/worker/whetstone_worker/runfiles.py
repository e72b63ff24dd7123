"""The run folder's append-only files (metrics.jsonl, log.txt, samples.jsonl), which the engine appends
to as well (engine/util/atomic.ts appendLine, the same rules): readers skip a torn line (a crash or a
full disk mid-append), so a torn line must never swallow the next one."""

from __future__ import annotations

import os
from pathlib import Path


def append_lines(path: Path, lines: list[str]) -> None:
    """Append `lines` (each without its newline). A file whose last line has no newline gets one first;
    a write the disk refuses part-way is cut back off before the error goes up."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)  # Windows: no newline translation
    try:
        size = os.fstat(fd).st_size
        if size > 0:
            os.lseek(fd, size - 1, os.SEEK_SET)  # os.pread is POSIX-only; appends still go to the end (O_APPEND)
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the torn tail stays; the next append starts on a new line
            raise
    finally:
        os.close(fd)
