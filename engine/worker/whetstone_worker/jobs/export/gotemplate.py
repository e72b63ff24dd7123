"""A Go text/template renderer for the subset Ollama's chat templates use, so the export can check a
Modelfile TEMPLATE against the model's jinja template without Go or Ollama installed.

Covered: text and actions with `{{-`/`-}}` trimming, comments, `if`/`else if`/`else`/`end`,
`range` over lists (with `$i, $v :=` or `$v :=`), `with`, `break`/`continue`, variables (`$x := …`,
`$x = …`, `$`), fields (`.Role`, `$.Messages`, `$m.Content`, `(index .Messages 0).Role`), string,
number and bool literals, parentheses and pipes into a last argument, and the functions eq, ne, lt,
le, gt, ge, and, or, not, len, index, slice, printf (%s, %d, %v, %q, %T) and Ollama's json. Anything else is a
GoTemplateError naming the construct: the renderer refuses instead of guessing, because its only job
is to prove that a template renders like the original. Values follow Go's rules where they show in
the output: a missing map key prints `<no value>`, false/0/""/empty lists are false, maps range in
key order. Ollama's tool values print as Ollama's Go code prints them (gojson.py): a call's
`.Function.Arguments` as compact JSON with sorted keys, a property's `.Type` as its type name.

It is tested against Ollama's own templates and expected outputs (tests/fixtures/ollama/).
Pure Python, no imports beyond the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .gojson import GoJSONError, GoValue, go_float, go_json, go_quote, go_type

NO_VALUE = "<no value>"


class GoTemplateError(ValueError):
    pass


@dataclass
class Node:
    kind: str  # text, print, if, range, with, assign, break, continue
    text: str = ""
    expr: list | None = None  # a pipeline: list of commands, each a list of operands
    branches: list = field(default_factory=list)  # if: [(pipeline | None, body)]; range/with: body, else body
    body: list = field(default_factory=list)
    orelse: list = field(default_factory=list)
    names: list = field(default_factory=list)  # range/assign variables
    declare: bool = True


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ---- lexing ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|
    (?P<decl>:=)|(?P<eq>=)|(?P<pipe>\|)|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|
    (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)|
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
)""", re.X)


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos, src = [], 0, src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise GoTemplateError(f"cannot read {src[pos:pos + 20]!r} in the action {{{{ {src} }}}}")
        kind = text_kind = m.lastgroup
        if kind == "field" and out and out[-1][0] == "rp" and m.start(kind) == pos:
            kind = "chain"  # (pipeline).Field
        out.append((kind, m.group(text_kind)))
        pos = m.end()
    return out


def _split_actions(src: str) -> list[tuple[str, str]]:
    """[(kind, text)] with kind text or action, trimming applied."""
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = src.find("{{", pos)
        if start < 0:
            parts.append(("text", src[pos:]))
            break
        text = src[pos:start]
        inner_start = start + 2
        if src.startswith("- ", inner_start) or src.startswith("-\t", inner_start) or src.startswith("-\n", inner_start):
            text = text.rstrip(" \t\r\n")
            inner_start += 1
        end = src.find("}}", inner_start)
        if end < 0:
            raise GoTemplateError("an action opened with {{ is never closed")
        inner = src[inner_start:end]
        pos = end + 2
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            while pos < len(src) and src[pos] in " \t\r\n":
                pos += 1
        parts.append(("text", text))
        parts.append(("action", inner.strip()))
    return [p for p in parts if p != ("text", "")]


# ---- parsing --------------------------------------------------------------------------------------

def parse(src: str) -> list[Node]:
    items = _split_actions(src)
    nodes, end = _parse_list(items, 0, ())
    if end != len(items):
        raise GoTemplateError(f"unexpected {{{{ {items[end][1]} }}}}")
    return nodes


def _parse_list(items, i, stops) -> tuple[list[Node], int]:
    out: list[Node] = []
    while i < len(items):
        kind, text = items[i]
        if kind == "text":
            out.append(Node("text", text=text))
            i += 1
            continue
        word = text.split(None, 1)[0] if text else ""
        if word in stops:
            return out, i
        if text.startswith("/*"):
            i += 1
        elif word == "if":
            node, i = _parse_if(items, i)
            out.append(node)
        elif word in ("range", "with"):
            node = Node(word)
            toks = _tokens(text[len(word):])
            if word == "range" and any(k == "decl" for k, _ in toks):
                at = next(j for j, (k, _) in enumerate(toks) if k == "decl")
                node.names = [v for k, v in toks[:at] if k == "var"]
                toks = toks[at + 1:]
            node.expr = _pipeline(toks)
            node.body, i = _parse_list(items, i + 1, ("else", "end"))
            if i < len(items) and items[i][1] == "else":
                node.orelse, i = _parse_list(items, i + 1, ("end",))
            i = _expect_end(items, i, word)
            out.append(node)
        elif word in ("break", "continue"):
            out.append(Node(word))
            i += 1
        elif word in ("define", "template", "block"):
            raise GoTemplateError(f"the {word} action is not supported")
        else:
            toks = _tokens(text)
            if len(toks) > 1 and toks[0][0] == "var" and toks[1][0] in ("decl", "eq"):
                out.append(Node("assign", names=[toks[0][1]], expr=_pipeline(toks[2:]), declare=toks[1][0] == "decl"))
            else:
                out.append(Node("print", expr=_pipeline(toks)))
            i += 1
    if stops:
        raise GoTemplateError(f"missing {{{{ end }}}} (expected one of {', '.join(stops)})")
    return out, i


def _parse_if(items, i) -> tuple[Node, int]:
    node = Node("if")
    cond = _pipeline(_tokens(items[i][1][2:]))
    while True:
        body, i = _parse_list(items, i + 1, ("else", "end"))
        node.branches.append((cond, body))
        text = items[i][1] if i < len(items) else ""
        if text.startswith("else if "):
            cond = _pipeline(_tokens(text[len("else if "):]))
            continue
        if text == "else":
            node.orelse, i = _parse_list(items, i + 1, ("end",))
        return node, _expect_end(items, i, "if")


def _expect_end(items, i, what) -> int:
    if i >= len(items) or items[i][1] != "end":
        raise GoTemplateError(f"{what} without a matching {{{{ end }}}}")
    return i + 1


def _pipeline(toks) -> list:
    commands, current, depth, group = [], [], 0, []
    for tok in toks:
        if depth:
            if tok[0] == "lp":
                depth += 1
            elif tok[0] == "rp":
                depth -= 1
                if depth == 0:
                    current.append(("group", _pipeline(group)))
                    group = []
                    continue
            group.append(tok)
        elif tok[0] == "lp":
            depth = 1
        elif tok[0] == "chain":
            if not current or current[-1][0] != "group":
                raise GoTemplateError(f"unexpected {tok[1]!r} in an expression")
            current[-1] = ("chained", (current[-1], tok[1][1:].split(".")))
        elif tok[0] == "pipe":
            commands.append(current)
            current = []
        elif tok[0] in ("decl", "eq", "comma", "rp"):
            raise GoTemplateError(f"unexpected {tok[1]!r} in an expression")
        else:
            current.append(tok)
    if depth:
        raise GoTemplateError("unclosed parenthesis")
    commands.append(current)
    if any(not c for c in commands):
        raise GoTemplateError("empty command in a pipeline")
    return commands


# ---- evaluation -----------------------------------------------------------------------------------

def render(src: str | list[Node], data: dict) -> str:
    nodes = parse(src) if isinstance(src, str) else src
    out: list[str] = []
    _run(nodes, data, [{"$": data}], out)
    return "".join(out)


def _run(nodes, dot, scopes, out) -> None:
    for node in nodes:
        k = node.kind
        if k == "text":
            out.append(node.text)
        elif k == "print":
            out.append(_show(_eval(node.expr, dot, scopes)))
        elif k == "assign":
            value = _eval(node.expr, dot, scopes)
            name = node.names[0]
            if node.declare:
                scopes[-1][name] = value
            else:
                for scope in reversed(scopes):
                    if name in scope:
                        scope[name] = value
                        break
                else:
                    raise GoTemplateError(f"undefined variable {name}")
        elif k == "if":
            for cond, body in node.branches:
                if _truth(_eval(cond, dot, scopes)):
                    _scoped(body, dot, scopes, out, {})
                    break
            else:
                _scoped(node.orelse, dot, scopes, out, {})
        elif k == "with":
            value = _eval(node.expr, dot, scopes)
            _scoped(node.body if _truth(value) else node.orelse, value if _truth(value) else dot, scopes, out, {})
        elif k == "range":
            _range(node, dot, scopes, out)
        elif k == "break":
            raise _Break
        elif k == "continue":
            raise _Continue


def _scoped(body, dot, scopes, out, new) -> None:
    scopes.append(new)
    try:
        _run(body, dot, scopes, out)
    finally:
        scopes.pop()


def _range(node, dot, scopes, out) -> None:
    value = _eval(node.expr, dot, scopes)
    if isinstance(value, dict):
        pairs = sorted(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = list(enumerate(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        pairs = [(i, i) for i in range(value)]
    elif value is None:
        pairs = []
    else:
        raise GoTemplateError(f"range over {type(value).__name__} is not supported")
    if not pairs:
        _scoped(node.orelse, dot, scopes, out, {})
        return
    for key, item in pairs:
        names = node.names
        scope = {names[0]: item} if len(names) == 1 else {names[0]: key, names[1]: item} if names else {}
        try:
            _scoped(node.body, item, scopes, out, scope)
        except _Continue:
            continue
        except _Break:
            break


def _eval(pipeline, dot, scopes):
    value, have = None, False
    for command in pipeline:
        call = command[0][0] == "ident" and command[0][1] not in ("true", "false", "nil")
        args = command[1:] if call else command
        extra = [value] if have else []
        if call:
            value = _call(command[0][1], args, extra, dot, scopes)
        else:
            if len(command) > 1 or extra:
                raise GoTemplateError(f"cannot call the non-function {command[0][1]}")
            value = _operand(command[0], dot, scopes)
        have = True
    return value


def _operand(tok, dot, scopes):
    kind, text = tok
    if kind == "str":
        return bytes(text[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
    if kind == "raw":
        return text[1:-1]
    if kind == "num":
        return float(text) if "." in text else int(text)
    if kind == "group":
        return _eval(text, dot, scopes)
    if kind == "chained":
        return _fields(_operand(text[0], dot, scopes), text[1])
    if kind == "field":
        return dot if text == "." else _fields(dot, text[1:].split("."))
    if kind == "var":
        name, *path = text.split(".")
        for scope in reversed(scopes):
            if name in scope:
                return _fields(scope[name], path)
        raise GoTemplateError(f"undefined variable {name}")
    if kind == "ident":
        if text in ("true", "false"):
            return text == "true"
        if text == "nil":
            return None
        return _call(text, [], [], dot, scopes)
    raise GoTemplateError(f"unexpected {text!r}")


def _fields(value, path):
    for name in path:
        if isinstance(value, dict):
            value = value.get(name, _Missing)
            if value is _Missing:
                return _Missing
        elif value is _Missing or value is None:
            raise GoTemplateError(f"field {name} of a missing value")
        else:
            raise GoTemplateError(f"field {name} of a {type(value).__name__}")
    return value


class _MissingType:
    def __repr__(self):
        return NO_VALUE


_Missing = _MissingType()


def _call(name, args, extra, dot, scopes):
    if name in ("and", "or"):  # short-circuit: the first deciding argument is the result
        values = args + [("value", v) for v in extra]
        result = None
        for arg in values:
            result = arg[1] if arg[0] == "value" else _operand(arg, dot, scopes)
            if _truth(result) != (name == "and"):
                return result
        return result
    vals = [_operand(a, dot, scopes) for a in args] + extra
    if name == "not":
        return not _truth(vals[0])
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        a = _plain(vals[0])
        if name == "eq":
            return any(a == _plain(b) for b in vals[1:])
        b = _plain(vals[1])
        return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[name]
    if name == "len":
        return len(_plain(vals[0]) or [])
    if name == "index":
        value = vals[0]
        for key in vals[1:]:
            value = value.get(key, _Missing) if isinstance(value, dict) else value[key]
        return value
    if name == "slice":
        value, bounds = vals[0], vals[1:]
        return value[bounds[0] if bounds else None: bounds[1] if len(bounds) > 1 else None]
    if name == "printf":
        return _printf(vals[0], vals[1:])
    if name == "json":
        try:
            return go_json(_plain(vals[0]))
        except GoJSONError as err:
            raise GoTemplateError(str(err)) from err
    raise GoTemplateError(f"the function {name} is not supported")


def _printf(fmt: str, values: list) -> str:
    values = list(values)

    def one(m):
        verb = m.group(0)
        if verb == "%%":
            return "%"
        if not values:
            return "%!" + verb[-1] + "(MISSING)"
        value = values.pop(0)
        if verb == "%T":
            return go_type(_plain(value))
        if verb == "%q":
            if isinstance(value, GoValue):
                value = value.go_string()
            if not isinstance(value, str):
                raise GoTemplateError(f"printf %q of a {go_type(_plain(value))} is not supported")
            return go_quote(value)
        return _show(value)

    return re.sub(r"%%|%[svdqT]", one, fmt)


def _plain(value):
    return None if value is _Missing else value


def _truth(value) -> bool:
    value = _plain(value)
    if isinstance(value, (list, tuple, dict, str)):
        return len(value) > 0
    return bool(value)


def _show(value) -> str:
    if value is _Missing or value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, GoValue):
        return value.go_string()
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_show(v) for v in value) + "]"
    return str(value)
