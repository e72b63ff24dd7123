"""Crash-safe checkpoints: write beside, fsync, manifest last, rename; resume from the newest that verifies.

Layout of a run directory:

    checkpoints/step-00000006/          one complete checkpoint (8-digit step)
        adapter/  (LoRA: PEFT adapter)   or  model/  (full: save_pretrained folder)
        optimizer.pt                    optimizer (+ grad scaler) state, tensors only
        rng.pt                          python / numpy / torch CPU / CUDA / MPS generator states
        trainer_state.json              step, data position, counters, elapsed time, last loss
        manifest.json                   written last: files with sizes and sha256, step, config,
                                        data fingerprint
    checkpoints/.tmp-step-00000009-4242 a checkpoint being written by pid 4242 (or a crash's leftover)

A checkpoint only gets its final name after every file, the manifest and the folder are fsynced, so
a kill at any instant leaves either a complete checkpoint or a temp folder that is ignored. Older
checkpoints are deleted only after the new one is in place, keeping `keep` (≥ 2). Verification
re-hashes every file; that costs a read of the checkpoint at resume time, which is cheap next to
training from a silently corrupt state. One worker writes a run directory at a time (the engine
guarantees it), so temp folders of other pids are leftovers and may be removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import __version__

MANIFEST = "manifest.json"
FORMAT = 1
STEP_DIR = re.compile(r"^step-(\d{8})$")
TEMP_PREFIX = ".tmp-"


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_path(path: Path) -> None:
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # Windows cannot open directories; NTFS metadata is journaled anyway
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(run_dir: Path, step: int, write_files: Callable[[Path], None], meta: dict, keep: int) -> Path:
    """Write a checkpoint for `step` via `write_files(folder)`, atomically; prune; return its path."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{TEMP_PREFIX}{step_name(step)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        write_files(tmp)
        files = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            _fsync_path(path)
            files[path.relative_to(tmp).as_posix()] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
        manifest = {"format": FORMAT, "step": step, "worker_version": __version__, "written_at": time.time(), "files": files, **meta}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        for folder in sorted({p.parent for p in tmp.rglob("*")} | {tmp}, key=lambda p: -len(p.parts)):
            _fsync_path(folder)
    except BaseException:
        # A failed write (a full disk, a kill signal turned exception) leaves nothing behind: the
        # partial folder would only hold the space the next attempt needs.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = root / step_name(step)
    if final.exists():  # a stale copy of this step from before a crash: this run's state supersedes it
        stale = root / f"{TEMP_PREFIX}stale-{step_name(step)}-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(tmp, final)
    _fsync_path(root)
    prune(root, keep, step)
    return final


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def prune(root: Path, keep: int, newest: int) -> None:
    """Keep the `keep` newest checkpoints up to step `newest`; remove temp leftovers of other pids."""
    steps = sorted(int(m.group(1)) for p in root.iterdir() if (m := STEP_DIR.match(p.name)))
    for step in [s for s in steps if s <= newest][:-keep]:
        shutil.rmtree(root / step_name(step), ignore_errors=True)
    for p in root.iterdir():
        if p.name.startswith(TEMP_PREFIX) and not p.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(p, ignore_errors=True)


def verify(folder: Path) -> tuple[dict | None, str]:
    """(manifest, "") if every file listed matches its size and hash, else (None, reason)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no manifest (incomplete)"
    except (OSError, ValueError) as err:
        return None, f"unreadable manifest ({err})"
    match = STEP_DIR.match(folder.name)
    if manifest.get("format") != FORMAT or not match or manifest.get("step") != int(match.group(1)):
        return None, "manifest does not match the folder"
    for rel, expected in manifest.get("files", {}).items():
        path = folder / rel
        if not path.is_file():
            return None, f"{rel} is missing"
        if path.stat().st_size != expected["size"]:
            return None, f"{rel} has the wrong size"
        if sha256_file(path) != expected["sha256"]:
            return None, f"{rel} does not match its hash"
    return manifest, ""


def latest_valid(run_dir: Path, on_skip: Callable[[str, str], None] = lambda name, why: None) -> tuple[Path, dict] | None:
    """The newest checkpoint whose manifest verifies, or None. Temp folders are never candidates."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return None
    candidates = sorted((p for p in root.iterdir() if p.is_dir() and STEP_DIR.match(p.name)), key=lambda p: p.name, reverse=True)
    for folder in candidates:
        manifest, why = verify(folder)
        if manifest is not None:
            return folder, manifest
        on_skip(folder.name, why)
    return None


def capture_rng() -> dict:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore_rng(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, key, *rest = state["numpy"]
    np.random.set_state((name, np.array(key, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


def write_training_state(folder: Path, optimizer_state: dict, trainer_state: dict) -> None:
    torch.save(optimizer_state, folder / "optimizer.pt")
    torch.save(capture_rng(), folder / "rng.pt")
    (folder / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1), encoding="utf-8")


def read_training_state(folder: Path) -> tuple[dict, dict, dict]:
    """(optimizer state, rng state, trainer state); weights_only loading never runs pickled code."""
    optimizer_state = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    rng = torch.load(folder / "rng.pt", map_location="cpu", weights_only=True)
    trainer_state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    return optimizer_state, rng, trainer_state
