"""Tokenize a run's data once: the samples `build_samples` makes, stored in the run folder
(`data/tokens.npz`) and reused by every later worker of the run (resume, a retry after a crash),
so restarting a run over a large dataset does not wait for the tokenizer again.

The file holds the concatenated ids and trained masks, per-sample offsets and source lines, the
DataReport, and a key: sha256 over the data file, the tokenizer's files, data.max_length,
data.overlong and the source of data/chat.py (the rules that make the masks). Any difference and
the cache is rebuilt, so a stale cache is never used. Written to a temp file and renamed, so an
interrupted write leaves no half file; an unreadable cache is rebuilt, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from . import chat
from .chat import DataReport, Sample, build_samples

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "tokenizer.model", "special_tokens_map.json")


def cache_key(data: Path, model_dir: Path, max_length: int, overlong: str) -> str:
    h = hashlib.sha256()
    files = [data] if data.is_file() else sorted(p for p in data.rglob("*") if p.is_file())
    files += [model_dir / name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    for path in files + [Path(chat.__file__)]:
        h.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    h.update(f"{max_length}\0{overlong}".encode())
    return h.hexdigest()


def cached_samples(tokenizer, data: Path, model_dir: Path, max_length: int, overlong: str, cache: Path,
                   progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[list[Sample], DataReport, bool]:
    """(samples, report, from_cache): build_samples' result, from `cache` when its key matches."""
    key = cache_key(data, model_dir, max_length, overlong)
    loaded = _load(cache, key)
    if loaded is not None:
        return (*loaded, True)
    samples, report = build_samples(tokenizer, data, max_length, overlong, progress)
    try:
        _save(cache, key, samples, report)
    except OSError:
        cache.with_name(cache.name + ".tmp").unlink(missing_ok=True)  # a cache is optional (a full disk): train without it
    return samples, report, False


def _load(cache: Path, key: str) -> tuple[list[Sample], DataReport] | None:
    try:
        with np.load(cache, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("key") != key:
                return None
            ids, trained, offsets, lines = f["ids"], f["trained"], f["offsets"], f["lines"]
    except (OSError, KeyError, ValueError):
        return None
    samples = [Sample(ids[a:b].copy(), trained[a:b].copy(), int(line)) for a, b, line in zip(offsets[:-1], offsets[1:], lines)]
    report = DataReport(read=meta["read"], truncated=meta["truncated"], dropped=Counter(meta["dropped"]),
                        tools_not_rendered=meta.get("tools_not_rendered", 0))
    return samples, report


def _save(cache: Path, key: str, samples: list[Sample], report: DataReport) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(s.ids) for s in samples]).astype(np.int64)
    meta = {"key": key, "read": report.read, "truncated": report.truncated, "dropped": dict(report.dropped),
            "tools_not_rendered": report.tools_not_rendered}
    tmp = cache.with_name(cache.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(
            f,
            ids=np.concatenate([s.ids for s in samples]).astype(np.int32) if samples else np.zeros(0, np.int32),
            trained=np.concatenate([s.trained for s in samples]).astype(bool) if samples else np.zeros(0, bool),
            offsets=offsets, lines=np.array([s.line for s in samples], dtype=np.int64), meta=np.array(json.dumps(meta)),
        )
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, cache)
