"""Prompt rows for GRPO → the rendered, tokenized prompt and the row's other fields for the rewards.

A line is a prompt and any fields the rewards read (`answer`, `reference`, …):

    {"prompt": "What is 6 × 7?", "answer": "42"}                         a user turn
    {"prompt": [{"role": "system", …}, {"role": "user", …}], "answer": …}  a conversation ending with the user
    {"messages": [{"role": "user", …}], "answer": …}                     the same, in chat form

A conversation that ends with an assistant turn (a chat dataset) is trained on everything before that
turn; the turn's text is kept as the field `reference` (for a reward that compares with it). The
prompt is rendered with the chat template's generation prompt, exactly as the worker renders prompts
for generation (jobs/generate.py), so what is sampled in training is what the model sees later.

Rows longer than data.max_length minus the completion budget cannot hold a completion: the overlong
policy drops them or refuses the file (`truncate` drops them too: a cut prompt is another question).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from jinja2 import TemplateError

from ..errors import WorkerError
from .chat import DataReport, _count_rows, _invalid, render
from .pairs import json_lines, nothing_kept

PROMPT_KEYS = ("prompt", "messages", "tools")


@dataclass
class PromptRow:
    ids: np.ndarray  # int32 token ids of the rendered prompt, generation prompt included
    text: str  # the rendered prompt (what a user reward function receives)
    fields: dict  # the row's other fields, and `__row__`: its line
    line: int


def _messages(row: dict, where: str) -> tuple[list[dict], dict]:
    prompt = row.get("prompt", row.get("messages"))
    fields = {k: v for k, v in row.items() if k not in PROMPT_KEYS}
    if isinstance(prompt, str):
        if not prompt.strip():
            raise _invalid(f"{where}: 'prompt' is empty")
        return [{"role": "user", "content": prompt}], fields
    if not isinstance(prompt, list) or not prompt or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                               and isinstance(m.get("content"), str) for m in prompt):
        raise WorkerError(
            "DATA_METHOD_MISMATCH",
            f"{where}: method grpo trains on prompts, but this row has no 'prompt' (text or messages) or 'messages'.",
            "Give each row a prompt (and the fields your rewards read, such as 'answer'), or use another method for this data.",
        )
    messages = list(prompt)
    if messages[-1]["role"] == "assistant":
        fields.setdefault("reference", messages[-1]["content"])
        messages = messages[:-1]
    if not messages or messages[-1]["role"] != "user":
        raise _invalid(f"{where}: a grpo prompt ends with the user's turn (the model writes the next one)")
    return messages, fields


def build_prompts(tokenizer, path: Path, max_length: int, max_completion_tokens: int, overlong: str,
                  progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[list[PromptRow], DataReport]:
    """Render and tokenize every prompt; a prompt that leaves no room for the completion budget is overlong."""
    path = Path(path)
    total = _count_rows(path)
    report = DataReport()
    room = max_length - max_completion_tokens
    if room < 1:
        raise WorkerError("CONFIG_INVALID", f"data.max_length {max_length} leaves no room for prompts beside "
                          f"{max_completion_tokens} completion tokens.", "Raise data.max_length or lower the completion length.")
    rows: list[PromptRow] = []
    for number, where, row in json_lines(path):
        report.read += 1
        if not isinstance(row, dict):
            raise _invalid(f"{where}: expected an object with a 'prompt'")
        messages, fields = _messages(row, where)
        try:
            text = render(tokenizer, messages, add_generation_prompt=True, tools=row.get("tools") or None)
        except TemplateError as err:
            raise WorkerError("TEMPLATE_ERROR", f"{where}: the chat template cannot render this prompt: {err}",
                              "Check the roles and their order (many templates require user/assistant alternation).") from None
        ids = np.asarray(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int32)
        if len(ids) > room:
            if overlong == "error":
                raise WorkerError("DATA_TOO_LONG", f"{where}: the prompt is {len(ids)} tokens; with {max_completion_tokens} "
                                  f"completion tokens it does not fit data.max_length {max_length}.",
                                  "Raise data.max_length, shorten the prompt, or let long rows be dropped.")
            report.dropped["too_long"] += 1
            continue
        # __row__: the line (a reward's errors name it); __prompt__: the user's last message (what the judge reward shows the judge).
        rows.append(PromptRow(ids, text, {**fields, "__row__": number, "__prompt__": messages[-1]["content"]}, number))
        if report.read % 256 == 0:
            progress(report.read, total)
    if not rows:
        raise nothing_kept(path, "prompts", report)
    return rows, report
