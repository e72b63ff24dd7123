"""Tiny composable validators for JSON values, shared by protocol.py and config.py.

Each validator is a function `(value, path) -> value` that returns the (possibly normalised) value
or raises `Invalid` naming the dotted path of the offending field. They mirror the subset of zod
the TypeScript side uses, so the two schema definitions read alike. Chosen over pydantic to keep
the worker's dependency list to what training needs; the cost is that we own ~100 lines of checks.

JSON quirks handled here: `true` is not a number (Python's bool is an int), `5.0` counts as an
integer (as in JavaScript), and NaN/Infinity are never finite numbers.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

Check = Callable[[Any, str], Any]


class Invalid(ValueError):
    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(lo: float | None = None, hi: float | None = None, *, gt: float | None = None, lt: float | None = None) -> Check:
    def check(value: Any, path: str) -> float | int:
        if not _is_number(value) or not math.isfinite(value):
            raise Invalid(path, f"expected a finite number, got {value!r}")
        if lo is not None and value < lo:
            raise Invalid(path, f"must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise Invalid(path, f"must be <= {hi}, got {value}")
        if gt is not None and value <= gt:
            raise Invalid(path, f"must be > {gt}, got {value}")
        if lt is not None and value >= lt:
            raise Invalid(path, f"must be < {lt}, got {value}")
        return value

    return check


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    bounds = number(lo, hi)

    def check(value: Any, path: str) -> int:
        if not _is_number(value) or not math.isfinite(value) or value != int(value):
            raise Invalid(path, f"expected an integer, got {value!r}")
        return int(bounds(value, path))

    return check


def string(min_len: int = 0, pattern: str | None = None) -> Check:
    regex = re.compile(pattern) if pattern else None

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise Invalid(path, f"expected a string, got {value!r}")
        if len(value) < min_len:
            raise Invalid(path, "must not be empty" if min_len == 1 else f"must have at least {min_len} characters")
        if regex and not regex.fullmatch(value):
            raise Invalid(path, f"{value!r} does not match {pattern}")
        return value

    return check


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(path, f"expected true or false, got {value!r}")
    return value


def enum(*allowed: str) -> Check:
    def check(value: Any, path: str) -> str:
        if value not in allowed or not isinstance(value, str):
            raise Invalid(path, f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def literal(expected: Any) -> Check:
    def check(value: Any, path: str) -> Any:
        # type() equality keeps `true` from passing as 1.
        if type(value) is not type(expected) or value != expected:
            raise Invalid(path, f"expected {expected!r}, got {value!r}")
        return value

    return check


def nullable(inner: Check) -> Check:
    return lambda value, path: None if value is None else inner(value, path)


def union(*options: Check) -> Check:
    def check(value: Any, path: str) -> Any:
        problems = []
        for option in options:
            try:
                return option(value, path)
            except Invalid as err:
                problems.append(err.problem)
        raise Invalid(path, " or ".join(problems))

    return check


def array(item: Check, min_len: int = 0) -> Check:
    def check(value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise Invalid(path, f"expected a list, got {value!r}")
        if len(value) < min_len:
            raise Invalid(path, f"must have at least {min_len} item(s)")
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return check


def record(value_check: Check) -> Check:
    def check(value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            raise Invalid(path, f"expected an object, got {value!r}")
        return {k: value_check(v, f"{path}.{k}") for k, v in value.items()}

    return check


def obj(fields: dict[str, Check], *, strict: bool = True, extra: Check | None = None) -> Check:
    """An object with exactly `fields` (strict), or those plus extras (each checked by `extra`)."""

    def check(value: Any, path: str) -> dict:
        if not isinstance(value, dict):
            raise Invalid(path, f"expected an object, got {type(value).__name__}")
        out = {}
        for name, field_check in fields.items():
            sub = f"{path}.{name}" if path else name
            if name not in value:
                raise Invalid(sub, "missing required field")
            out[name] = field_check(value[name], sub)
        for name in value.keys() - fields.keys():
            sub = f"{path}.{name}" if path else name
            if strict:
                raise Invalid(sub, "unknown field")
            out[name] = extra(value[name], sub) if extra else value[name]
        return out

    return check
