"""Chat samples → token ids plus a mask of the tokens we train on (the assistant's), per sample.

The mask comes from the *prefix-diff segment rule*, chosen because it works with any chat template
(no `{% generation %}` markers needed) and is simple enough for the TypeScript engine to replicate
exactly in its mask preview:

    for each assistant message i:
        prefix = render(messages[:i], add_generation_prompt=True)
        full   = render(messages[:i+1])
        the trained text is full[len(prefix):]        (full must start with prefix)

The whole rendering is split into alternating untrained/trained text segments and EACH SEGMENT IS
TOKENIZED SEPARATELY (add_special_tokens=False) and concatenated. Tokenizing per segment can split
a word differently than tokenizing the whole text would at a segment boundary; that is the price
of a mask that is exact by construction (no offset mapping, no guessing at boundaries), and chat
templates put special tokens at those boundaries anyway. A template that rewrites earlier turns
when a later one is added (full does not start with prefix) is reported, not guessed around.

Samples are kept as int32 ids + a bool mask (not Python lists) so large datasets stay small in RAM.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from jinja2 import TemplateError

from ..errors import WorkerError

Segment = tuple[str, bool]
IGNORE = -100  # the label of a token that is not a training target (PyTorch's cross-entropy default)


class TemplateMismatch(ValueError):
    """The chat template does not render conversations as prefixes of their continuations."""


@dataclass
class Sample:
    ids: np.ndarray  # int32 token ids
    trained: np.ndarray  # bool, True where the token is a training target
    line: int  # 1-based line in the data file, for messages

    @property
    def n_trained(self) -> int:
        # Position 0 is never a target: targets are predicted from the tokens before them.
        return int(self.trained[1:].sum())


@dataclass
class DataReport:
    read: int = 0
    truncated: int = 0
    dropped: Counter = field(default_factory=Counter)
    tools_not_rendered: int = 0  # rows whose tool definitions the chat template leaves out of the text

    @property
    def kept(self) -> int:
        return self.read - sum(self.dropped.values())


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False, tools: list | None = None) -> str:
    # tools (function schemas) go to the template as transformers' `tools=`; None renders as before.
    extra = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, **extra)


def render_segments(tokenizer, messages: list[dict], tools: list | None = None) -> list[Segment]:
    """The rendered conversation as (text, trained) segments, by the prefix-diff rule (module doc)."""
    whole = render(tokenizer, messages, tools=tools)
    segments: list[Segment] = []
    cursor = 0  # end of the text already assigned to segments
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prefix = render(tokenizer, messages[:i], add_generation_prompt=True, tools=tools)
        full = render(tokenizer, messages[: i + 1], tools=tools)
        if not full.startswith(prefix) or not whole.startswith(full) or len(prefix) < cursor:
            raise TemplateMismatch(
                f"rendering message {i} (assistant) does not extend the rendering of the messages before it"
            )
        if len(prefix) > cursor:
            segments.append((whole[cursor : len(prefix)], False))
        if len(full) > len(prefix):
            segments.append((full[len(prefix) :], True))
        cursor = len(full)
    if cursor < len(whole):
        segments.append((whole[cursor:], False))
    return segments


def tokenize_segments(tokenizer, segments: list[Segment]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, trained mask): each segment tokenized on its own, without special tokens, concatenated."""
    if not segments:
        return np.zeros(0, np.int32), np.zeros(0, bool)
    encoded = tokenizer([text for text, _ in segments], add_special_tokens=False)["input_ids"]
    ids = np.fromiter((t for piece in encoded for t in piece), dtype=np.int32)
    trained = np.fromiter((flag for piece, (_, flag) in zip(encoded, segments) for _ in piece), dtype=bool)
    return ids, trained


def read_conversations(path: Path) -> Iterator[tuple[int, list[dict]]]:
    """(line number, messages) for each non-blank line; malformed lines raise DATA_INVALID."""
    for number, messages, _ in read_rows(path):
        yield number, messages


def read_rows(path: Path) -> Iterator[tuple[int, list[dict], list | None]]:
    """(line number, messages, tools or None) for each non-blank line; malformed lines raise DATA_INVALID."""
    _require_file(path)
    offset = 0
    with path.open("rb") as f:  # bytes, so a bad byte is reported with its line instead of aborting the read
        for number, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark is not part of the JSON
                raw = raw[3:]
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                raise _invalid(f"{where}: not UTF-8 (byte offset {start + err.start})") from None
            except json.JSONDecodeError as err:
                raise _invalid(f"{where}:{err.colno}: not valid JSON ({err.msg})") from None
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not messages:
                raise _invalid(f"{where}: expected an object with a non-empty 'messages' list")
            for j, m in enumerate(messages):
                if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                    raise _invalid(f"{where}: messages[{j}] needs string 'role' and 'content'")
            tools = row.get("tools")
            if tools is not None and not isinstance(tools, list):
                raise _invalid(f"{where}: 'tools' must be a list of function schemas")
            yield number, messages, tools or None


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise WorkerError(
            "DATA_NOT_FOUND",
            f"Training data not found: {path}",
            "Check data.train; the engine writes the run's data snapshot there before training.",
            recoverable=True,
        )


def _count_rows(path: Path) -> int:
    _require_file(path)
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _invalid(message: str) -> WorkerError:
    return WorkerError("DATA_INVALID", message, "Fix or remove the line (the data import can skip bad lines).")


def build_samples(
    tokenizer,
    path: Path,
    max_length: int,
    overlong: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[list[Sample], DataReport]:
    """Tokenize and mask every conversation, applying the overlong policy; DATA_EMPTY if none survive."""
    if not getattr(tokenizer, "chat_template", None):
        raise WorkerError(
            "TEMPLATE_MISSING",
            "The model's tokenizer has no chat template, so conversations cannot be rendered.",
            "Use a chat/instruct model, or add a chat_template.jinja to the model folder.",
        )
    path = Path(path)
    total = _count_rows(path)
    progress(0, total)
    report = DataReport()
    samples: list[Sample] = []
    for line, messages, tools in read_rows(path):
        report.read += 1
        try:
            ids, trained = tokenize_segments(tokenizer, render_segments(tokenizer, messages, tools))
            if tools and render(tokenizer, messages, tools=tools) == render(tokenizer, messages):
                report.tools_not_rendered += 1  # the model never sees these definitions: said, never silent
        except TemplateMismatch as err:
            raise WorkerError(
                "TEMPLATE_ERROR",
                f"{path}:{line}: the chat template cannot be split into prompt and answer: {err}.",
                "This template rewrites earlier turns; pick a model whose template renders turns incrementally.",
            ) from None
        except TemplateError as err:  # includes templates that call raise_exception(...)
            raise WorkerError(
                "TEMPLATE_ERROR",
                f"{path}:{line}: the chat template rejected this conversation: {err}",
                "Check the roles and their order (many templates require user/assistant alternation).",
            ) from None
        if len(ids) > max_length:
            if overlong == "error":
                raise WorkerError(
                    "DATA_TOO_LONG",
                    f"{path}:{line}: {len(ids)} tokens, longer than data.max_length {max_length}.",
                    "Raise data.max_length, or set data.overlong to drop or truncate.",
                )
            if overlong == "drop":
                report.dropped["too_long"] += 1
                _tick(progress, report.read, total)
                continue
            ids, trained = ids[:max_length], trained[:max_length]
            report.truncated += 1
        sample = Sample(ids, trained, line)
        if sample.n_trained == 0:
            report.dropped["no_trained_tokens"] += 1
        else:
            samples.append(sample)
        _tick(progress, report.read, total)
    if not samples:
        reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(report.dropped.items()))
        raise WorkerError(
            "DATA_EMPTY",
            f"No trainable samples in {path}: {report.read} read, none kept ({reasons or 'the file is empty'}).",
            "Check that conversations have assistant answers, raise data.max_length, or set data.overlong to truncate.",
        )
    return samples, report


def _tick(progress: Callable[[int, int], None], done: int, total: int) -> None:
    if done % 256 == 0:
        progress(done, total)
