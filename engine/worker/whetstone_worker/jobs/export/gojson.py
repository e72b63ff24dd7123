"""How Ollama's Go code writes the values a chat template sees for tools, so gotemplate.py can render
them byte for byte: encoding/json (compact, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029
escaped as \\u003c…, numbers as float64), fmt's %q (strconv.Quote: printable runes kept, others
escaped) and %T, and the String methods of Ollama's template types (template/template.go: a tool
call's `Arguments` print as their JSON, api.PropertyType as its type name).

Python values stand for Go's: str, bool, None (nil), float (float64: Ollama decodes every JSON number
into one), int (a template's integer literal), list ([]interface {}), dict (map[string]interface {}).
"""

from __future__ import annotations

import unicodedata


class GoValue:
    """A value with a Go String method; go_string() is what Go prints for it."""

    def go_string(self) -> str:
        raise NotImplementedError


class Args(dict, GoValue):
    """template.templateArgs: a map whose String method is its JSON ({} when empty)."""

    def go_string(self) -> str:
        return go_json(dict(self))


class PropertyType(list, GoValue):
    """api.PropertyType: one type prints and marshals as its name, several as a list."""

    def go_string(self) -> str:
        return self[0] if len(self) == 1 else "[" + " ".join(self) + "]" if self else ""

    def go_json_value(self):
        return self[0] if len(self) == 1 else list(self)


class Struct(dict):
    """A Go struct (fields by Go name). Its JSON (field tags, omitempty) is not modelled: json refuses it."""


class GoJSONError(ValueError):
    pass


def go_json(value) -> str:
    """encoding/json.Marshal with Go's defaults."""
    if isinstance(value, PropertyType):
        value = value.go_json_value()
    if isinstance(value, Struct):
        raise GoJSONError("json of an Ollama struct (a tool or message) is not modelled; write its fields")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value, json=True)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_json_string(k) + ":" + go_json(value[k]) for k in sorted(value)) + "}"
    raise GoJSONError(f"json of a {type(value).__name__}")


def _json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _NAMED_JSON:
            out.append(_NAMED_JSON[ch])
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


_NAMED_JSON = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}  # \b, \f since Go 1.22
_NAMED_QUOTE = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """strconv.Quote, which fmt's %q uses for strings."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == " " or unicodedata.category(ch)[0] in "LMNPS":  # unicode.IsPrint
            out.append(ch)
        elif ch in _NAMED_QUOTE:
            out.append(_NAMED_QUOTE[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out) + '"'


def go_type(value) -> str:
    """fmt's %T."""
    if isinstance(value, Args):
        return "template.templateArgs"
    if isinstance(value, PropertyType):
        return "api.PropertyType"
    for kind, name in ((bool, "bool"), (str, "string"), (int, "int"), (float, "float64"), (list, "[]interface {}"),
                       (dict, "map[string]interface {}")):
        if isinstance(value, kind):
            return name
    return "<nil>"


def go_float(f: float) -> str:
    """fmt's %v of a float64."""
    return _float(f, json=False)


def _float(f: float, json: bool) -> str:
    if f != f or f in (float("inf"), float("-inf")):
        raise GoJSONError(f"{f} has no JSON encoding")
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    digits, exp = _shortest(abs(f))  # f = 0.digits * 10**exp
    sign = "-" if f < 0 else ""
    e = exp - 1  # the exponent of d.ddd
    scientific = (abs(f) < 1e-6 or abs(f) >= 1e21) if json else (e < -4 or e >= 21)
    if not scientific:
        if exp <= 0:
            return sign + "0." + "0" * -exp + digits
        if exp >= len(digits):
            return sign + digits + "0" * (exp - len(digits))
        return sign + digits[:exp] + "." + digits[exp:]
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    text = f"{abs(e):02d}" if not json or abs(e) >= 10 else str(abs(e))  # json cleans e-07 to e-7
    return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{text}"


def _shortest(f: float) -> tuple[str, int]:
    """The shortest digits that round-trip (as Go's strconv and Python's repr both find) and the exponent."""
    mantissa, _, exp = f"{f!r}".partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    return digits.rstrip("0") or "0", point
