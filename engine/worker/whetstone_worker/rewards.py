"""Reward functions for GRPO (issue #20 item 2): built-ins configured by the run's config, and a user's file.

Each reward scores a batch of completions: `score(prompts, completions, rows) -> list[float | None]`, one
value per completion, where `rows` are the data rows the prompts came from (so a reward can read a
field such as `answer`). None means "this reward has no opinion on this completion"; a completion every
reward abstains on is unscorable and gets no advantage (see losses/grpo.py). The rewards of a run are
combined as Σ weight·reward over the rewards that scored.

Built-ins (`type` in the config):

    exact_match  1 when the answer extracted from the completion equals the row's `field`, else 0.
                 The answer is the first group of `pattern` (its last match in the completion), or the
                 whole completion; both sides are stripped, and compared case-insensitively unless
                 `case_sensitive`.
    numeric      1 when the extracted number equals the row's `field` within `tolerance` (absolute),
                 else 0; `pattern` as above, by default the completion's last number. A field that is
                 not a number itself gives its last number (GSM8K's `answer`: "… #### 72" gives 72).
    format       1 when `pattern` matches the completion (re.search; anchor it for a full match), else 0.
    length       0 up to `max_chars` characters, then −(excess / max_chars): a penalty that grows with
                 the overshoot, for answers that ramble.
    judge        the local judge's preference for the completion over the row's reference answer
                 (`field`, by default `reference`: a conversation's last assistant turn), both orders
                 averaged: P(better) + 0.5·P(tie), in [0, 1]; the same judge and prompt as the
                 engine's evaluation (judge.py). `judge` is its folder, resolved by the engine (the
                 default judge when the config names none). A row without a reference: no opinion.
    python       the function `function` (default `reward`) of the Python file `file`:
                 `def reward(prompts, completions, **fields) -> list[float]`, where each field of the
                 rows is passed as a list (fields["answer"][i] belongs to completion i). It is the
                 user's own code and runs with the user's rights, like a model's custom code (when the
                 engine offers grpo, its config should ask for an explicit opt-in, as trust_remote_code
                 does). An exception is reported with the file, the function and the first row it fails on.

Pure Python (no torch), so the engine-facing checks and the tests load it cheaply.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import WorkerError

Score = Callable[[Sequence[str], Sequence[str], Sequence[dict]], list]

REWARD_TYPES = ("exact_match", "numeric", "format", "length", "judge", "python")
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass
class Reward:
    name: str  # shown in metrics: the type, or the python function's name
    weight: float
    score: Score
    spec: dict = field(default_factory=dict)


def _extract(text: str, pattern: re.Pattern | None) -> str | None:
    if pattern is None:
        return text.strip()
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    m = matches[-1]
    return (m.group(1) if m.groups() else m.group(0)).strip()


def _to_number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?", text.strip()) else text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _compile(spec: dict, where: str, default: str | None = None) -> re.Pattern | None:
    pattern = spec.get("pattern", default)
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise WorkerError("REWARD_INVALID", f"{where}: the pattern {pattern!r} is not a valid regular expression ({e}).",
                          "Fix the pattern (Python `re` syntax); test it on a few completions first.") from e


def _field(row: dict, name: str, where: str, index: int) -> Any:
    if name not in row or row[name] is None:
        raise WorkerError("REWARD_FIELD_MISSING", f"{where}: row {index + 1} of the data has no field `{name}`.",
                          f"Give every training row a `{name}` field, or point the reward at a field the rows have.")
    return row[name]


def _exact_match(spec: dict, where: str) -> Score:
    pattern, name = _compile(spec, where), spec["field"]
    case = bool(spec.get("case_sensitive", False))

    def score(prompts, completions, rows):
        out = []
        for i, (completion, row) in enumerate(zip(completions, rows)):
            got, want = _extract(completion, pattern), str(_field(row, name, where, i)).strip()
            out.append(float(got is not None and (got == want if case else got.casefold() == want.casefold())))
        return out

    return score


def _numeric(spec: dict, where: str) -> Score:
    pattern, name = _compile(spec, where, default=f"({_NUMBER})"), spec["field"]
    default_pattern = re.compile(f"({_NUMBER})")
    tolerance = float(spec.get("tolerance", 1e-6))

    def score(prompts, completions, rows):
        out = []
        for i, (completion, row) in enumerate(zip(completions, rows)):
            raw = str(_field(row, name, where, i))
            want = _to_number(raw)
            if want is None:
                want = _to_number(_extract(raw, default_pattern))
            if want is None:
                raise WorkerError("REWARD_FIELD_INVALID", f"{where}: row {i + 1}'s `{name}` is {row[name]!r}, not a number.",
                                  "Numeric rewards compare numbers: store the answer as a number (or use exact_match).")
            got = _to_number(_extract(completion, pattern))
            out.append(float(got is not None and abs(got - want) <= tolerance))
        return out

    return score


def _format(spec: dict, where: str) -> Score:
    pattern = _compile(spec, where)
    if pattern is None:
        raise WorkerError("REWARD_INVALID", f"{where}: a format reward needs a `pattern`.", "Add the regular expression the completions should match.")
    return lambda prompts, completions, rows: [float(pattern.search(c) is not None) for c in completions]


def _length(spec: dict, where: str) -> Score:
    limit = int(spec.get("max_chars", 0))
    if limit <= 0:
        raise WorkerError("REWARD_INVALID", f"{where}: a length reward needs `max_chars` > 0.", "Set max_chars to the longest answer you want without penalty.")
    return lambda prompts, completions, rows: [-max(0, len(c) - limit) / limit for c in completions]


def _judge(spec: dict, where: str) -> Score:
    from .judge import OnnxJudge

    if not spec.get("judge"):
        raise WorkerError("REWARD_INVALID", f"{where}: no judge folder was resolved.", "This is a bug in Whetstone: the engine resolves the judge before training.")
    judge = OnnxJudge(spec["judge"])  # loaded once per run
    name = spec.get("field") or "reference"

    def score(prompts, completions, rows):
        out = []
        for completion, row in zip(completions, rows):
            reference = row.get(name)
            instruction = row.get("__prompt__")
            if not isinstance(reference, str) or not reference.strip() or not isinstance(instruction, str):
                out.append(None)
                continue
            out.append(judge.prefer(instruction, completion, reference))
        return out

    return score


def _python(spec: dict, where: str) -> tuple[Score, str]:
    path = Path(spec["file"])
    function = spec.get("function") or "reward"
    if not path.is_file():
        raise WorkerError("REWARD_FILE_NOT_FOUND", f"{where}: the reward file {path} does not exist.", "Check the path (relative paths are relative to the config file).")
    module_spec = importlib.util.spec_from_file_location(f"whetstone_user_reward_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001: the user's code, reported with its file
        raise WorkerError("REWARD_FAILED", f"{where}: loading {path} raised {type(e).__name__}: {e}", "Fix the reward file; it runs as plain Python with the worker's packages.") from e
    fn = getattr(module, function, None)
    if not callable(fn):
        raise WorkerError("REWARD_INVALID", f"{where}: {path} has no function `{function}`.", f"Define `def {function}(prompts, completions, **fields) -> list[float]` in it, or name the function in the config.")

    def call(prompts, completions, rows):
        fields = {key: [row.get(key) for row in rows] for key in (rows[0].keys() if rows else ())}
        return fn(list(prompts), list(completions), **fields)

    def score(prompts, completions, rows):
        try:
            values = call(prompts, completions, rows)
        except WorkerError:
            raise
        except Exception as e:  # noqa: BLE001: find the first row it fails on, for the message
            raise WorkerError("REWARD_FAILED", f"{where}: {path.name}:{function} raised {type(e).__name__}: {e}{_first_failing_row(call, prompts, completions, rows)}",
                              "Fix the reward function: it must return one number (or None) per completion for any completion the model writes.") from e
        values = list(values) if values is not None else []
        if len(values) != len(completions):
            raise WorkerError("REWARD_FAILED", f"{where}: {path.name}:{function} returned {len(values)} values for {len(completions)} completions.", "Return one number (or None) per completion, in order.")
        out = []
        for i, v in enumerate(values):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise WorkerError("REWARD_FAILED", f"{where}: {path.name}:{function} returned {v!r} for row {_row_of(rows, i)}, not a finite number.", "Return a float (or None to abstain) for every completion.")
            out.append(None if v is None else float(v))
        return out

    return score, function


def _row_of(rows: Sequence[dict], i: int) -> str:
    row = rows[i] if i < len(rows) else {}
    return str(row.get("__row__", i + 1))


def _first_failing_row(call, prompts, completions, rows) -> str:
    for i in range(len(completions)):
        try:
            call(prompts[i:i + 1], completions[i:i + 1], rows[i:i + 1])
        except Exception:  # noqa: BLE001
            preview = completions[i][:60].replace("\n", " ")
            return f" (first on row {_row_of(rows, i)}, completion {preview!r})"
    return ""


def build(specs: Sequence[dict]) -> list[Reward]:
    """The run's rewards from its config's `rewards` list (already validated by the engine)."""
    if not specs:
        raise WorkerError("REWARD_MISSING", "GRPO needs at least one reward.", "Add a reward to the config's `rewards` list (e.g. exact_match on an `answer` field).")
    rewards = []
    for n, spec in enumerate(specs):
        kind = spec.get("type")
        where = f"reward {n + 1} ({kind})"
        if kind not in REWARD_TYPES:
            raise WorkerError("REWARD_INVALID", f"{where}: unknown reward type.", f"Use one of: {', '.join(REWARD_TYPES)}.")
        name = kind
        if kind == "exact_match":
            score = _exact_match(spec, where)
        elif kind == "numeric":
            score = _numeric(spec, where)
        elif kind == "format":
            score = _format(spec, where)
        elif kind == "length":
            score = _length(spec, where)
        elif kind == "judge":
            score = _judge(spec, where)
        else:
            score, name = _python(spec, where)
        rewards.append(Reward(name=name, weight=float(spec.get("weight", 1.0)), score=score, spec=dict(spec)))
    return rewards


def score_all(rewards: Sequence[Reward], prompts: Sequence[str], completions: Sequence[str], rows: Sequence[dict]) -> tuple[list[list[float]], list[float]]:
    """Per reward, one value per completion (None → NaN), and their weighted sum per completion (NaN when
    every reward abstained)."""
    per_reward = []
    for reward in rewards:
        values = reward.score(prompts, completions, rows)
        per_reward.append([math.nan if v is None else float(v) for v in values])
    total = []
    for i in range(len(completions)):
        scored = [(r.weight, per_reward[k][i]) for k, r in enumerate(rewards) if not math.isnan(per_reward[k][i])]
        total.append(sum(w * v for w, v in scored) if scored else math.nan)
    return per_reward, total
