"""Helpers shared by the tests (paths, golden config, event recorder); fixtures live in conftest.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from whetstone_worker.protocol import Emitter, parse_message

WORKER_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = WORKER_ROOT.parents[1]
GOLDEN = REPO_ROOT / "tests" / "fixtures" / "protocol" / "golden-v1.jsonl"
INVALID = REPO_ROOT / "tests" / "fixtures" / "protocol" / "invalid-v1.jsonl"
TINY_CHAT = REPO_ROOT / "examples" / "tiny-chat.jsonl"


def golden_lines() -> list[str]:
    return [line for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def golden_config() -> dict:
    return next(json.loads(line)["config"] for line in golden_lines() if json.loads(line)["type"] == "train")


def set_dotted(config: dict, **overrides) -> dict:
    """Copy of `config` with overrides like training__max_steps=5 (double underscore = dot)."""
    out = copy.deepcopy(config)
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = value
    return out


class Recorder:
    """An Emitter sink that keeps every event (validated on the way out) as a dict."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.emitter = Emitter(self._write)

    def _write(self, line: str) -> None:
        self.events.append(parse_message(line))

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def losses(self) -> dict[int, float]:
        return {e["step"]: e["loss"] for e in self.of("metrics")}
