"""Preference pairs → two masked samples each (prompt + chosen, prompt + rejected), and pair batches.

A snapshot line is `{"prompt": [messages], "chosen": [messages], "rejected": [messages]}` (the
engine normalises every pair format to this). Each side is rendered as the conversation
prompt + side and masked by chat.py's prefix-diff rule, the same rule SFT uses, so the trained
tokens are exactly the assistant turns of the response; assistant turns inside a multi-turn prompt
are context and are unmasked here (the rule marks them trained, we clear the first ones).

A micro-batch of n pairs is one padded batch of 2n rows, chosen rows first, rejected after: one
forward pass per micro-batch, as in TRL's concatenated forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from jinja2 import TemplateError

from ..errors import WorkerError
from .batches import collate
from .chat import DataReport, Sample, TemplateMismatch, _count_rows, _invalid, _require_file, render_segments, tokenize_segments

SIDES = ("prompt", "chosen", "rejected")


@dataclass
class Pair:
    chosen: Sample
    rejected: Sample
    line: int


def json_lines(path: Path):
    """(line number, "path:line", parsed value) for each non-blank line of a snapshot; bad JSON is DATA_INVALID."""
    _require_file(path)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield number, where, json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise _invalid(f"{where}: not a valid JSON line ({err})") from None


def read_pairs(path: Path):
    """(line, row) for each non-blank line; a row that is not a pair is DATA_INVALID naming the field."""
    for number, where, row in json_lines(path):
        if not isinstance(row, dict) or "messages" in row:
            raise WorkerError(
                "DATA_METHOD_MISMATCH",
                f"{where}: a conversation ('messages'), but preference methods train on pairs with fields prompt, chosen, rejected.",
                "Use a preference dataset (prompt/chosen/rejected), or method: sft for conversations.",
            )
        for side in SIDES:
            value = row.get(side)
            if not isinstance(value, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                      and isinstance(m.get("content"), str) for m in value):
                raise _invalid(f"{where}: '{side}' must be a list of messages with string role and content")
        yield number, row


def fits(report: DataReport, path: Path, line: int, tokens: int, max_length: int, overlong: str) -> bool:
    """The overlong policy for a row of `tokens` (its longest side): True to keep it (the caller cuts it to
    max_length when it is longer, counted as truncated), False when it is dropped; DATA_TOO_LONG for "error"."""
    if tokens <= max_length:
        return True
    if overlong == "error":
        raise WorkerError("DATA_TOO_LONG", f"{path}:{line}: {tokens} tokens, longer than data.max_length {max_length}.",
                          "Raise data.max_length, or set data.overlong to drop or truncate.")
    if overlong == "drop":
        report.dropped["too_long"] += 1
        return False
    report.truncated += 1
    return True


def cut(sample: Sample, max_length: int) -> Sample:
    return Sample(sample.ids[:max_length], sample.trained[:max_length], sample.line)


def nothing_kept(path: Path, what: str, report: DataReport) -> WorkerError:
    reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(report.dropped.items()))
    return WorkerError("DATA_EMPTY", f"No trainable {what} in {path}: {report.read} read, none kept ({reasons or 'the file is empty'}).",
                       "Raise data.max_length, or set data.overlong to truncate.")


def _side(tokenizer, prompt: list[dict], side: list[dict], line: int, tools: list | None = None) -> Sample:
    segments = render_segments(tokenizer, prompt + side, tools)
    context_turns = sum(1 for m in prompt if m["role"] == "assistant")
    for i, (text, trained) in enumerate(segments):
        if trained and context_turns:
            segments[i] = (text, False)
            context_turns -= 1
    ids, trained = tokenize_segments(tokenizer, segments)
    return Sample(ids, trained, line)


def build_pairs(tokenizer, path: Path, max_length: int, overlong: str,
                progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[list[Pair], DataReport]:
    """Tokenize and mask every pair; overlong: a pair is too long when either side is."""
    path = Path(path)
    total = _count_rows(path)
    report, pairs = DataReport(), []
    for line, row in read_pairs(path):
        report.read += 1
        try:
            chosen, rejected = (_side(tokenizer, row["prompt"], row[s], line, row.get("tools") or None) for s in ("chosen", "rejected"))
        except (TemplateMismatch, TemplateError) as err:
            raise WorkerError("TEMPLATE_ERROR", f"{path}:{line}: the chat template cannot render this pair: {err}",
                              "Check the roles and their order (many templates require user/assistant alternation).") from None
        if not fits(report, path, line, max(len(chosen.ids), len(rejected.ids)), max_length, overlong):
            continue
        chosen, rejected = cut(chosen, max_length), cut(rejected, max_length)
        if chosen.n_trained == 0 or rejected.n_trained == 0:
            report.dropped["no_trained_tokens"] += 1
            continue
        pairs.append(Pair(chosen, rejected, line))
        if report.read % 256 == 0:
            progress(report.read, total)
    if not pairs:
        raise nothing_kept(path, "pairs", report)
    return pairs, report


def collate_pairs(pairs: list[Pair], pad_id: int) -> dict[str, torch.Tensor]:
    """2n right-padded rows, chosen first: input_ids, attention_mask, labels, lengths (collate's)."""
    return collate([p.chosen for p in pairs] + [p.rejected for p in pairs], pad_id)
