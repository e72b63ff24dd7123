"""One export: check the inputs and the destination, stage the files beside it, then rename.

Order of work: every check that can fail cheaply runs before a byte is written (inputs, format
options, destination, free disk space estimated from the checkpoint headers). The files are then
written into `.<name>.partial-<pid>` beside the destination and renamed into place only when
complete, so a crash or a cancel never leaves a folder at the destination that looks whole; a
replaced export is moved aside first and deleted after the rename. Staging folders left by a
crashed worker are removed the next time the same destination is exported.

Progress is reported in bytes of the exported weights (the writers call `Progress.advance` per
tensor), so the ETA holds for models with a few huge and many tiny tensors; cancel is checked
between tensors.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from .. import modeling
from ..errors import WorkerError
from ..protocol import Emitter
from . import card
from .context import DTYPES, MB, SPACE_MARGIN, SPACE_SLACK, TOKENIZER_FILES, Cancelled, Context, Progress  # noqa: F401 (re-exported)
from .source import WeightSource

def run(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> None:
    try:
        result = export(job_id, command, emitter, cancelled)
    except Cancelled:
        emitter.emit("done", id=job_id, status="cancelled", result={})
        return
    emitter.emit("done", id=job_id, status="completed", result=result)


def export(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> dict:
    from . import writers

    fmt = command["format"]
    progress = Progress(job_id, emitter, cancelled)
    progress.start("load", None, "", f"Reading the checkpoint headers for a {fmt} export")
    writer = writers.get(fmt)
    writer.validate(command)
    model_dir, tuned_dir = _check_inputs(command)
    out = Path(command["out_dir"]).expanduser().absolute()
    _check_destination(out, command["overwrite"], [model_dir, tuned_dir])
    source = WeightSource(model_dir, tuned_dir, command["tuned_kind"])
    needed = writer.estimate(source, command)
    _check_space(out, needed)
    staging = _staging_dir(out)
    context = Context(command, source, staging, _tokenizer_dir(model_dir, tuned_dir), DTYPES[command["dtype"]],
                      command["shard_size_mb"] * MB, progress, lambda m: emitter.log(job_id, "info", m), {})
    try:
        writer.write(context)
        progress.check()
        progress.start("save", None, "", f"Writing the model card and moving the export to {out}")
        files = _files(staging)
        facts = {"format": fmt, "dtype": command["dtype"], "quantization": command["quantization"],
                 "parameters": source.parameters, "files": files, "checks": context.checks,
                 "tuned_kind": command["tuned_kind"]}
        (staging / "README.md").write_text(card.render(command["card"], facts), encoding="utf-8")
        progress.check()
        _commit(staging, out, command["overwrite"])
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError):
            raise _write_failed(err, out) from err
        raise
    files = _files(out)
    return {"out_dir": str(out), "format": fmt, "dtype": command["dtype"], "quantization": command["quantization"],
            "files": files, "bytes": sum(f["bytes"] for f in files), "parameters": source.parameters,
            "estimated_bytes": needed, "checks": context.checks, "seconds": round(time.monotonic() - progress.t0, 3)}


def _check_inputs(command: dict) -> tuple[Path, Path]:
    model_dir = modeling.check_model_dir(command["model_path"], "base model")
    tuned = Path(command["tuned_path"])
    marker = "adapter_config.json" if command["tuned_kind"] == "adapter" else "config.json"
    if not (tuned / marker).is_file():
        raise WorkerError("MODEL_NOT_FOUND", f"No trained {command['tuned_kind']} at {tuned}: {marker} is missing",
                          f"Point tuned_path at the run's outputs/{command['tuned_kind']} folder.")
    return model_dir.absolute(), tuned.absolute()


def _check_destination(out: Path, overwrite: bool, sources: list[Path]) -> None:
    for src in sources:
        if out == src or out in src.parents or src in out.parents:
            raise WorkerError("EXPORT_INVALID", f"The export folder {out} overlaps the model it is exported from ({src})",
                              "Choose an --out folder outside the base model and the run's outputs.")
    if out.exists() and not out.is_dir():
        raise WorkerError("EXPORT_EXISTS", f"{out} exists and is a file, not an export folder",
                          "Choose another --out path.")
    if out.exists() and not overwrite:
        raise WorkerError("EXPORT_EXISTS", f"The export folder {out} already exists",
                          "Pass --overwrite to replace it (the old folder is removed only once the new export is complete), "
                          "or choose another --out.")


def _check_space(out: Path, needed: int) -> None:
    probe = out.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    want = int(needed * SPACE_MARGIN) + SPACE_SLACK
    if free < want:
        raise WorkerError(
            "DISK_FULL",
            f"Not enough disk space for the export in {probe}: it needs about {_size(want)} and {_size(free)} is free",
            "Free some space, export to another disk with --out, or write a smaller file "
            "(--dtype bfloat16 for safetensors, --quant q8_0 for gguf).",
            recoverable=True,
        )


def _staging_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _commit(staging: Path, out: Path, overwrite: bool) -> None:
    if not out.exists():
        os.replace(staging, out)
        return
    if not overwrite:  # created while we were writing
        raise WorkerError("EXPORT_EXISTS", f"The export folder {out} appeared while exporting", "Choose another --out.")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def _tokenizer_dir(model_dir: Path, tuned_dir: Path) -> Path:
    # The run saves the tokenizer it trained with beside its outputs; older outputs may lack it.
    return tuned_dir if any((tuned_dir / name).is_file() for name in TOKENIZER_FILES[:2]) else model_dir


def _files(folder: Path) -> list[dict]:
    return [{"path": str(p.relative_to(folder)), "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file()]


def _write_failed(err: OSError, out: Path) -> WorkerError:
    where = err.filename or out
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return WorkerError("DISK_FULL", f"The disk filled up while writing {where}; the partial export was removed",
                           "Free some space or export to another disk with --out.", recoverable=True)
    return WorkerError("EXPORT_WRITE_FAILED", f"Cannot write the export at {where}: {err.strerror or err}",
                       "Check that the folder is writable, or choose another --out.", recoverable=True)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"
