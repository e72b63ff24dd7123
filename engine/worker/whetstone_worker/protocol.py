"""Worker protocol v1, Python side: message schemas, `parse_message`, and the event emitter.

The TypeScript side (engine/protocol/messages.ts) and this module describe the same messages;
tests/fixtures/protocol/golden-v1.jsonl holds one example of each and both test suites parse every
line, so neither side can drift unnoticed. The rules mirror the zod schemas: commands are strict
(an unknown field is an error, because a command we half-understand must not run), events accept
extra fields (a newer worker may add some), and `metrics` extras must be numbers.

Every event the worker sends goes through the same validation as incoming lines, so a worker bug
that would produce an event the engine rejects fails loudly here (in tests) instead of there.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from . import PROTOCOL_VERSION
from .config import parse_run_config
from .validate import (
    Check,
    Invalid,
    array,
    boolean,
    enum,
    integer,
    literal,
    nullable,
    number,
    obj,
    record,
    string,
)

# The export command's lists; tests/fixtures/protocol/tables-v1.json holds them for both sides
# (jobs/export/writers.py has one writer per format).
EXPORT_FORMATS = ("safetensors", "adapter", "gguf", "ollama", "onnx")
EXPORT_DTYPES = ("bfloat16", "float16", "float32")
GGUF_QUANTIZATIONS = ("f16", "q8_0", "f32")

ProtocolError = Invalid

ID = string(1)
NUM = number()
NAT = integer(0)


_MESSAGE = obj({"role": string(1), "content": string()})

COMMANDS: dict[str, dict[str, Check]] = {
    "train": {"id": ID, "run_dir": string(1), "config": parse_run_config},
    "resume": {"id": ID, "run_dir": string(1), "config": parse_run_config},
    "cancel": {"id": ID, "target": ID},
    "generate": {
        "id": ID,
        "model_path": string(1),
        "tuned_path": nullable(string(1)),
        "tuned_kind": nullable(enum("adapter", "model")),
        "sides": array(enum("base", "tuned"), min_len=1),
        "prompts": array(array(_MESSAGE, min_len=1), min_len=1),
        "max_new_tokens": integer(1),
        "temperature": number(0),
        "top_p": number(hi=1, gt=0),
        "seed": NAT,
        "stream": boolean,
    },
    "audit": {
        "id": ID,
        "model_path": string(1),
        "tuned_path": string(1),
        "tuned_kind": enum("adapter", "model"),
        "data_path": string(1),
        "samples": integer(1),
        "prefix_tokens": NAT,
        "continuation_tokens": integer(1),
        "seed": NAT,
        "embedding_model": nullable(string(1)),
    },
    "export": {
        "id": ID,
        "model_path": string(1),
        "tuned_path": string(1),
        "tuned_kind": enum("adapter", "model"),
        "format": enum(*EXPORT_FORMATS),
        "out_dir": string(1),
        "dtype": enum(*EXPORT_DTYPES),
        "quantization": nullable(enum(*GGUF_QUANTIZATIONS)),
        "shard_size_mb": integer(1),
        "overwrite": boolean,
        "card": record(lambda v, p: v),
    },
    "preflight": {"id": ID, "config": parse_run_config},
    "pull": {
        "id": ID,
        "repo_id": string(1),
        "repo_type": enum("model", "dataset"),
        "revision": nullable(string(1)),
        "endpoint": nullable(string(1)),
        "cache_dir": nullable(string(1)),
    },
    "push": {
        "id": ID,
        "repo_id": string(1, pattern=r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*"),
        "folder": nullable(string(1)),
        "check_only": boolean,
        "private": boolean,
        "endpoint": nullable(string(1)),
        "commit_message": string(1),
        "card": record(lambda v, p: v),
        "export": nullable(obj({"format": enum(*EXPORT_FORMATS), "dtype": enum(*EXPORT_DTYPES),
                                "quantization": nullable(enum(*GGUF_QUANTIZATIONS)), "parameters": NAT,
                                "checks": record(lambda v, p: v)}, strict=True)),
    },
    "merge": {
        "id": ID,
        "model_path": string(1),
        "sources": array(obj({"path": string(1), "kind": enum("adapter", "model")}), min_len=1),
        "method": enum("soup", "dare"),
        "p": number(0, lt=1),
        "seed": NAT,
        "dtype": enum("bfloat16", "float16", "float32"),
        "shard_size_mb": integer(1),
        "out_dir": string(1),
    },
    "bench": {
        "id": ID,
        "model_path": string(1),
        "tuned_path": nullable(string(1)),
        "tuned_kind": nullable(enum("adapter", "model")),
        "sides": array(enum("tuned", "base"), min_len=1),
        "tasks": array(string(1), min_len=1),
        "limit": nullable(integer(1)),
        "num_fewshot": nullable(NAT),
        "chat_template": boolean,
        "batch_size": nullable(integer(1)),
        "include_path": nullable(string(1)),
    },
    # Data synthesis (jobs/synth.py): a raw prefix of null is the model's pre-query template (Magpie); a chat prefix is a
    # user message rendered through the chat template (GLAN); a given prompt is only answered (other response sources).
    "synth": {
        "id": ID,
        "model_path": string(1),
        "tuned_path": nullable(string(1)),
        "tuned_kind": nullable(enum("adapter", "model")),
        "candidates": array(obj({"index": NAT, "kind": enum("raw", "chat", "prompt"), "prefix": nullable(string(1)), "temperature": number(0)},
                                strict=True), min_len=1),
        "responses": array(obj({"temperature": number(0), "seed_offset": NAT}, strict=True), min_len=1),
        "stop_texts": array(string(1)),
        "prompt_tokens": integer(1),
        "response_tokens": NAT,
        "answer_truncated": boolean,
        "top_p": number(hi=1, gt=0),
        "seed": NAT,
    },
    "shutdown": {"id": ID},
}

EVENTS: dict[str, dict[str, Check]] = {
    "hello": {
        "protocol": integer(),
        "worker_version": string(),
        "pid": integer(),
        "python": string(),
        "packages": record(string()),
        # null: a worker started for the hub only (a pull, a push), which never looks at a device.
        "device": nullable(
            obj(
                {
                    "kind": enum("cpu", "cuda", "mps"),
                    "name": string(),
                    "count": NAT,
                    "memory_bytes": nullable(NUM),
                    "bf16": boolean,
                    "capability": nullable(string()),
                },
                strict=False,
            )
        ),
    },
    "progress": {
        "id": ID,
        "phase": string(1),
        "current": NUM,
        "total": nullable(NUM),
        "unit": string(),
        "elapsed_s": NUM,
        "eta_s": nullable(NUM),
        "message": string(),
    },
    "metrics": {
        "id": ID,
        "step": NAT,
        "total_steps": NAT,
        "epoch": NUM,
        "loss": NUM,
        "lr": NUM,
        "grad_norm": nullable(NUM),
        "tokens": NUM,
        "tokens_per_s": NUM,
        "elapsed_s": NUM,
        "eta_s": nullable(NUM),
    },
    "checkpoint": {"id": ID, "step": NAT, "path": string()},
    # `resume`: the checkpoint the job continues from (path null: none verified, it starts over)
    # and each newer one it skipped, with why.
    "resuming": {"id": ID, "step": NAT, "path": nullable(string()),
                 "skipped": array(obj({"name": string(1), "reason": string()}))},
    "log": {"id": nullable(ID), "level": enum("debug", "info", "warning", "error"), "message": string()},
    "generation": {"id": ID, "index": NAT, "side": enum("base", "tuned"), "text": string(), "tokens": NAT,
                   "finish": enum("stop", "length")},
    "token": {"id": ID, "index": NAT, "side": enum("base", "tuned"), "text": string()},
    "candidate": {"id": ID, "index": NAT, "prompt": string(), "prompt_finish": enum("stop", "length"), "prompt_tokens": NAT,
                  "response": nullable(string()), "response_finish": nullable(enum("stop", "length")), "response_tokens": NAT,
                  "responses": array(obj({"text": string(), "finish": enum("stop", "length"), "tokens": NAT}))},
    "done": {"id": ID, "status": enum("completed", "cancelled"), "result": record(lambda v, p: v)},
    "error": {
        "id": nullable(ID),
        "code": string(1, pattern=r"[A-Z][A-Z0-9_]*"),
        "message": string(),
        "hint": string(),
        "recoverable": boolean,
    },
}

_EXTRA = {"metrics": NUM}


def _reject_constant(name: str) -> Any:
    raise Invalid("", f"{name} is not valid JSON")


def validate_message(raw: Any) -> dict:
    """Validate a decoded message; returns it with train/resume `config` as a RunConfig."""
    if not isinstance(raw, dict):
        raise Invalid("", "a message must be a JSON object")
    if "v" not in raw:
        raise Invalid("v", "missing protocol version")
    # The version first: a message from another major version may use types we do not know.
    literal(PROTOCOL_VERSION)(raw["v"], "v")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise Invalid("type", "missing or not a string")
    if kind not in COMMANDS and kind not in EVENTS:
        raise Invalid("type", f"unknown message type {kind!r}")
    envelope = {"v": literal(PROTOCOL_VERSION), "type": literal(kind)}
    if kind in COMMANDS:
        return obj({**envelope, **COMMANDS[kind]}, strict=True)(raw, "")
    return obj({**envelope, **EVENTS[kind]}, strict=False, extra=_EXTRA.get(kind))(raw, "")


def parse_message(line: str | bytes) -> dict:
    """Decode and validate one protocol line; raises ProtocolError saying which field is wrong."""
    try:
        raw = json.loads(line, parse_constant=_reject_constant)
    except Invalid:
        raise
    except ValueError as err:
        raise Invalid("", f"not JSON: {err}") from None
    return validate_message(raw)


def is_command(message: dict) -> bool:
    return message["type"] in COMMANDS


class Emitter:
    """Writes validated events as JSON lines; thread-safe (the reader thread reports too)."""

    def __init__(self, write: Callable[[str], Any], flush: Callable[[], Any] | None = None,
                 on_closed: Callable[[], Any] = lambda: None):
        self._write = write
        self._flush = flush
        self._lock = threading.Lock()
        self.closed = False
        # Called once when the engine stops reading (it died): the worker checkpoints and exits
        # instead of dying on the first event it can no longer send.
        self.on_closed = on_closed

    def emit(self, kind: str, **fields: Any) -> dict:
        message = {"v": PROTOCOL_VERSION, "type": kind, **fields}
        validate_message(message)
        line = json.dumps(message, allow_nan=False, ensure_ascii=False) + "\n"
        with self._lock:
            if self.closed:
                return message
            try:
                self._write(line)
                if self._flush:
                    self._flush()
            except (BrokenPipeError, ConnectionResetError, ValueError):  # ValueError: the stream was closed
                self.closed = True
            else:
                return message
        self.on_closed()
        return message

    def log(self, job_id: str | None, level: str, message: str) -> None:
        self.emit("log", id=job_id, level=level, message=message)

    def progress(self, job_id: str, started: float, phase: str, current: float, total: float | None, unit: str, message: str,
                 eta: float | None = None) -> None:
        """A progress event of a job that began at `started` (time.monotonic()), with its ETA in seconds if known."""
        self.emit("progress", id=job_id, phase=phase, current=current, total=total, unit=unit, elapsed_s=round(time.monotonic() - started, 3),
                  eta_s=None if eta is None else round(eta, 1), message=message)

    def error(self, job_id: str | None, code: str, message: str, hint: str, recoverable: bool) -> None:
        self.emit("error", id=job_id, code=code, message=message, hint=hint, recoverable=recoverable)
