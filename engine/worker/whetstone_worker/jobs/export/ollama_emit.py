"""The derived pieces (ollama_template.Pieces, ollama_tools.ToolPieces) written as an Ollama TEMPLATE.

Turns are one `if eq .Role …` chain inside `range .Messages`. With tools, conditions on the message use
`$m.ToolCalls` (a variable) so that the one `if .ToolCalls` field test Ollama's output parser looks for
(tools/template.go) opens with the text a call starts with: Ollama takes that text, up to its first
`{`, as the tag that marks a tool call in the model's output (`<tool_call>` for Qwen 2.5; `{` for
Llama's bare JSON). JSON is written field by field (see ollama_tools.py for why not with `json`).
"""

from __future__ import annotations

from .ollama_tools import MARK, ToolPieces

ROLES = ("system", "user", "assistant")
STRING = 'printf "%q"'
OPEN = '{{ "{" }}'  # a brace right before an action would read as part of its delimiter


def emit(p, t: ToolPieces | None = None) -> str:
    if t is None:
        return _plain(p)
    pre = '{{ $u := 0 }}{{ with .Messages }}{{ if eq (index . 0).Role "system" }}{{ $u = 1 }}{{ end }}{{ end }}' \
        if t.user_prefix != p.prefix["user"] else ""
    grouped = bool(t.group_pre or t.group_post)
    if grouped:
        pre += '{{ $prev := "" }}'
    body = '{{ $last := eq (len (slice $.Messages $i)) 1 }}' if t.group_post else ""
    body += _default(p, t)
    sys_plain = _text(p.prefix["system"]) + "{{ .Content }}" + _text(p.suffix["system"])
    sys_tooled = _tooled(t.sys_prefix, t) + "{{ .Content }}" + _tooled(t.sys_suffix, t)
    body += '{{ if eq .Role "system" }}' + _either("and $.Tools (eq $i 0)", sys_tooled, sys_plain)
    user_plain, user_tooled = _text(p.prefix["user"]), _tooled(t.user_prefix, t)
    body += '{{ else if eq .Role "user" }}' + _either("and $.Tools (eq $i $u)", user_tooled, user_plain)
    body += "{{ .Content }}" + _text(p.suffix["user"])
    assistant = _text(p.prefix["assistant"]) + "{{ .Content }}" + _text(p.suffix["assistant"])
    body += '{{ else if eq .Role "assistant" }}{{ if $m.ToolCalls }}' + _calls(t) + "{{ else }}" + assistant + "{{ end }}"
    body += '{{ else if eq .Role "tool" }}' + _result(t) + "{{ end }}"
    if grouped:
        body += "{{ $prev = .Role }}"
    return f"{pre}{_text(p.preamble)}{{{{ range $i, $m := .Messages }}}}{body}{{{{ end }}}}{_text(p.generation)}"


def _plain(p) -> str:
    roles = [role for role in ROLES if role in p.prefix]
    turns = "".join(f'{{{{ {"if" if i == 0 else "else if"} eq .Role "{role}" }}}}{_text(p.prefix[role])}{{{{ .Content }}}}'
                    f"{_text(p.suffix[role])}" for i, role in enumerate(roles))
    default = ""
    if p.default_system is not None:
        block = p.prefix["system"] + p.default_system + p.suffix["system"]
        default = f'{{{{ if and (eq $i 0) (ne .Role "system") }}}}{_text(block)}{{{{ end }}}}'
    return f"{_text(p.preamble)}{{{{ range $i, $_ := .Messages }}}}{default}{turns}{{{{ end }}}}{{{{ end }}}}{_text(p.generation)}"


def _default(p, t: ToolPieces) -> str:
    plain = "" if p.default_system is None else _text(p.prefix["system"] + p.default_system + p.suffix["system"])
    tooled = _tooled(t.default, t)
    if not plain and not tooled:
        return ""
    return '{{ if and (eq $i 0) (ne .Role "system") }}' + _either("$.Tools", tooled, plain) + "{{ end }}"


def _either(condition: str, tooled: str, plain: str) -> str:
    if tooled == plain:
        return plain
    return f"{{{{ if {condition} }}}}{tooled}" + (f"{{{{ else }}}}{plain}" if plain else "") + "{{ end }}"


def _tooled(text: str, t: ToolPieces) -> str:
    """Text with the tools list where MARK is."""
    tools = "{{ range $k, $t := $.Tools }}" + (f"{{{{ if $k }}}}{_text(t.sep)}{{{{ end }}}}" if t.sep else "") \
        + _tool(t) + "{{ end }}"
    return tools.join(_text(part) for part in text.split(MARK))


def _calls(t: ToolPieces) -> str:
    out = _text(t.call_prefix)
    if t.content is not None:
        out += "{{ if .Content }}" + _text(t.content[0]) + "{{ .Content }}" + _text(t.content[1]) + "{{ end }}"
    call = _text(t.call_pre) + "{{ .Function.Name }}" + _text(t.call_mid) \
        + "{{ with .Function.Arguments }}" + _object(t.args_indent, 0) + "{{ else }}{}{{ end }}" + _text(t.call_post)
    if t.call_sep:
        call += f"{{{{ if ne (len (slice $m.ToolCalls $j)) 1 }}}}{_text(t.call_sep)}{{{{ end }}}}"
    return out + "{{ if .ToolCalls }}{{ range $j, $c := .ToolCalls }}" + call + "{{ end }}{{ end }}" + _text(t.call_suffix)


def _result(t: ToolPieces) -> str:
    out = f'{{{{ if ne $prev "tool" }}}}{_text(t.group_pre)}{{{{ end }}}}' if t.group_pre else ""
    out += _text(t.item_pre) + ("{{ " + STRING + " .Content }}" if t.quoted else "{{ .Content }}") + _text(t.item_post)
    if t.group_post:
        out += '{{ if or $last (ne (index (slice $.Messages $i) 1).Role "tool") }}' + _text(t.group_post) + "{{ end }}"
    return out


# ---- JSON, written as transformers' tojson writes it (json.dumps: ", " and ": ", or indented) ----------

def _tool(t: ToolPieces) -> str:
    d = 1 if t.whole else 0
    fn = _fields(t.indent, d, [
        ('"name": ', "{{ " + STRING + " .Function.Name }}", None),
        ('"description": ', "{{ " + STRING + " .Function.Description }}", ".Function.Description"),
        ('"parameters": ', _fields(t.indent, d + 1, [
            ('"type": ', "{{ json .Function.Parameters.Type }}", None),
            ('"properties": ', "{{ with .Function.Parameters.Properties }}" + _properties(t.indent, d + 2)
             + "{{ else }}{}{{ end }}", None),
            ('"required": ', "{{ with .Function.Parameters.Required }}" + _list(t.indent, d + 2, STRING) + "{{ end }}",
             ".Function.Parameters.Required")]), None)])
    if not t.whole:
        return fn
    return _fields(t.indent, 0, [('"type": ', "{{ json .Type }}", None), ('"function": ', fn, None)])


def _properties(indent, d) -> str:
    prop = _fields(indent, d + 1, [
        ('"type": ', "{{ json .Type }}", None),
        ('"items": ', "{{ with .Items }}" + _object(indent, d + 2) + "{{ end }}", ".Items"),
        ('"enum": ', "{{ with .Enum }}" + _list(indent, d + 2, None) + "{{ end }}", ".Enum"),
        ('"description": ', "{{ " + STRING + " .Description }}", ".Description")])
    return ("{{ $pf := true }}" + OPEN + "{{ range $name, $p := . }}" + f"{{{{ if not $pf }}}}{_comma(indent)}{{{{ end }}}}"
            + "{{ $pf = false }}" + _nl(indent, d + 1) + "{{ " + STRING + " $name }}: " + prop + "{{ end }}" + _nl(indent, d) + "}")


def _object(indent, d) -> str:
    """The map at dot, in key order, its values scalars."""
    return ("{{ $of := true }}" + OPEN + "{{ range $key, $v := . }}" + f"{{{{ if not $of }}}}{_comma(indent)}{{{{ end }}}}"
            + "{{ $of = false }}" + _nl(indent, d + 1) + "{{ " + STRING + " $key }}: " + _scalar("$v") + "{{ end }}"
            + _nl(indent, d) + "}")


def _list(indent, d, fmt) -> str:
    """The non-empty list at dot."""
    value = "{{ " + fmt + " $e }}" if fmt else _scalar("$e")
    return ("[{{ range $n, $e := . }}" + f"{{{{ if $n }}}}{_comma(indent)}{{{{ end }}}}" + _nl(indent, d + 1) + value
            + "{{ end }}" + _nl(indent, d) + "]")


def _scalar(var: str) -> str:
    return f'{{{{ if eq (printf "%T" {var}) "string" }}}}{{{{ {STRING} {var} }}}}{{{{ else }}}}{{{{ json {var} }}}}{{{{ end }}}}'


def _fields(indent, d, fields) -> str:
    """An object of fields (key, value, condition or None); the first is always written."""
    out = "{" + _nl(indent, d + 1)
    for i, (key, value, condition) in enumerate(fields):
        item = (_comma(indent) + _nl(indent, d + 1) if i else "") + key + value
        out += f"{{{{ if {condition} }}}}{item}{{{{ end }}}}" if condition else item
    return out + _nl(indent, d) + "}"


def _nl(indent, d) -> str:
    return "" if indent is None else "\n" + " " * (indent * d)


def _comma(indent) -> str:
    return ", " if indent is None else ","


def _text(s: str) -> str:
    """Literal text, or a quoted string when it holds action delimiters (or ends with a brace an action would join)."""
    if "{{" in s or "}}" in s or s.endswith("{"):
        return "{{ " + _quote(s) + " }}"
    return s


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'
