"""Unpaired preference rows (KTO) → a masked sample each, plus its mismatched row for the KL estimate.

A snapshot line is `{"messages": [...], "label": true|false}` (the engine normalises LLaMA-Factory's
messages + label and TRL's prompt/completion/label to this). The completion is the last assistant
turn; everything before it is the prompt, rendered and masked by the rule pairs use (pairs._side),
so the trained tokens are exactly that last answer.

KTO's reference point z₀ needs completions under prompts they were not written for. TRL builds them
by shifting the completions of each batch by one; here each row's partner is fixed at load time (row
i takes the completion of row i+1 of the file, the last row that of the first), tokenized once, so
a step renders nothing and exact resume needs no state. Either way z₀ is a batch mean over
mismatched rows; which mismatch is used only changes the estimate's noise. A mismatched row longer
than data.max_length is cut to it (it only feeds an estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jinja2 import TemplateError

from ..errors import WorkerError
from .chat import DataReport, Sample, TemplateMismatch, _count_rows, _invalid
from .pairs import _side, cut, fits, json_lines, nothing_kept


@dataclass
class Labelled:
    sample: Sample  # prompt + its own completion, the completion trained
    kl: Sample  # prompt + the partner row's completion (no gradient; KTO's KL estimate)
    desirable: bool
    line: int


def read_unpaired(path: Path):
    """(line, prompt messages, completion messages, label, tools) per non-blank line."""
    for number, where, row in json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("label"), bool):
            raise WorkerError(
                "DATA_METHOD_MISMATCH",
                f"{where}: method kto trains on rows labelled good or bad, but this row has no boolean 'label'.",
                "Use rows with messages (or prompt/completion) and label true/false, or another method for this data.",
            )
        messages = row.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                     and isinstance(m.get("content"), str) for m in messages):
            raise _invalid(f"{where}: 'messages' must be a list of messages with string role and content")
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise _invalid(f"{where}: a kto row needs a prompt and ends with the assistant answer that is labelled")
        yield number, messages[:-1], messages[-1:], row["label"], row.get("tools") or None


def build_unpaired(tokenizer, path: Path, max_length: int, overlong: str,
                   progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[list[Labelled], DataReport]:
    """Tokenize and mask every row and its mismatched partner; overlong applies to the row itself."""
    path = Path(path)
    total = _count_rows(path)
    report = DataReport()
    rows = list(read_unpaired(path))
    kept: list[Labelled] = []
    for k, (line, prompt, completion, label, tools) in enumerate(rows):
        report.read += 1
        partner = rows[(k + 1) % len(rows)][2]
        try:
            sample = _side(tokenizer, prompt, completion, line, tools)
            kl = _side(tokenizer, prompt, partner, line, tools)
        except (TemplateMismatch, TemplateError) as err:
            raise WorkerError("TEMPLATE_ERROR", f"{path}:{line}: the chat template cannot render this row: {err}",
                              "Check the roles and their order (many templates require user/assistant alternation).") from None
        if not fits(report, path, line, len(sample.ids), max_length, overlong):
            continue
        sample = cut(sample, max_length)
        if sample.n_trained == 0:
            report.dropped["no_trained_tokens"] += 1
            continue
        kept.append(Labelled(sample, cut(kl, max_length), label, line))
        if report.read % 256 == 0:
            progress(report.read, total)
    if not kept:
        raise nothing_kept(path, "rows", report)
    return kept, report
