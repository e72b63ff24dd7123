"""Tool calling in the Ollama template: the tools list, assistant tool calls and tool results, derived
like the turns (ollama_template.py) from probe renders with sentinel strings, and emitted as Go.

Derivation: the tools list is found as the `tojson` of each sentinel tool (or of its `function`;
spaced or indented), replaced by a marker, and the tooled render is compared turn by turn with the
plain one: the text that tools add goes into the system turn, the first user turn (Llama 3.1/3.2) or
the default system block (Qwen 2.5). Tool calls give a per-turn prefix, the content's place, and per
call the text around the name and the `tojson` of the arguments; two calls give the text between
calls (a template that allows one call per turn writes them back to back). Tool results give the text
around each and around a run of them (Qwen 2.5 folds a run into one user turn), and whether the
content is written as is or as a JSON string (Llama's `tojson`).

Emission: Go cannot write jinja's `tojson` (spaced separators, keys in the caller's order) with
Ollama's `json` (compact), so the template writes each JSON value itself: scalars with `printf "%q"`
(Go's quoting equals JSON's for printable text, `<>&` included, unlike Ollama's `json`) or `json`
(numbers, booleans), objects and lists with the template's separators and indentation. Fixed by
Ollama's side, and said in the Modelfile's note: Ollama hands templates the properties and the
arguments as Go maps, so they come out in name order; a tool is written in transformers'
`get_json_schema` key order (type, function: name, description, parameters: type, properties:
type, items, enum, description; required), with keys Ollama's API drops (nullable, default, nested
objects) left out. The conversations of VERIFY_TOOLS prove the result; any difference is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MARK = "\x00"  # where the tools list goes in a piece of text
SYS, U1, A1, U2 = "Zq7sysZ", "Zq7usr1Z", "Zq7ast1Z", "Zq7usr2Z"
F1, F2 = "Zq7call1Z", "Zq7call2Z"
ARGS1 = {"Zq7kaZ": "Zq7vaZ", "Zq7kbZ": "Zq7vbZ"}
ARGS2 = {"Zq7kcZ": "Zq7vcZ", "Zq7kdZ": "Zq7vdZ"}
R1, R2 = 'Zq7res"1Z', 'Zq7res"2Z'  # a quote tells a raw content from a JSON-quoted one
LISTS = [(whole, indent) for indent in (None, 4, 2) for whole in (True, False)]
ARG_FORMATS = [None, 4, 2]


class ToolsUnsupported(ValueError):
    """The template's tool syntax has a construct this translation does not express; the text says which."""


@dataclass
class ToolPieces:
    whole: bool  # the list holds each tool's JSON (True) or only its `function`
    indent: int | None  # None: tojson's one-line ", "/": " layout
    sep: str  # between two tools' JSON
    sys_prefix: str  # the system turn when there are tools (MARK: the tools list)
    sys_suffix: str
    user_prefix: str  # the first turn after the system prompt, when it is a user turn
    default: str  # written before the first turn when there is no system message
    call_prefix: str
    content: tuple[str, str] | None  # (before, after) a tool-calling turn's content, None: not written
    call_pre: str
    call_mid: str
    args_indent: int | None
    call_post: str
    call_sep: str
    call_suffix: str
    group_pre: str
    item_pre: str
    item_post: str
    group_post: str
    quoted: bool  # a tool result is written as a JSON string


def _tool(n: str) -> dict:
    return {"type": "function", "function": {"name": f"Zq7fn{n}Z", "description": f"Zq7desc{n}Z", "parameters": {
        "type": "object", "properties": {f"Zq7arg{n}Z": {"type": "string", "description": f"Zq7pd{n}Z"}},
        "required": [f"Zq7arg{n}Z"]}}}


T1, T2 = _tool("1"), _tool("2")


def _dump(value, indent) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _user(text):
    return {"role": "user", "content": text}


def _calls(*calls, content=""):
    return {"role": "assistant", "content": content, "tool_calls": [
        {"type": "function", "function": {"name": name, "arguments": args}} for name, args in calls]}


def derive_tools(r, p) -> ToolPieces:
    """r(messages, generation=True, tools=None) renders; p is the plain Pieces."""
    def render(messages, tools=(T1,)):
        try:
            return r(messages, True, list(tools))
        except Exception as err:  # noqa: BLE001 - jinja's raise_exception on a probe
            raise ToolsUnsupported(f"the template fails on a conversation with tools ({err})") from err

    conv = [{"role": "system", "content": SYS}, _user(U1), {"role": "assistant", "content": A1}, _user(U2)]
    if p.system != "turn":
        raise ToolsUnsupported("the template has no system turn to hold the tools")
    one, two = render(conv), render(conv, (T1, T2))
    whole, indent, sep, marked = _find_list(one, two)
    s, u, a, g = p.suffix, p.prefix, p.prefix["assistant"], p.generation
    parts = _split(marked, [SYS, U1, A1, U2])
    if parts[2:] != [s["user"] + a, s["assistant"] + u["user"], s["user"] + g]:
        raise ToolsUnsupported("tools change how the turns after the first user turn are written")
    if not parts[0].startswith(p.preamble):
        raise ToolsUnsupported("tools change the text before the system turn")
    sys_prefix = parts[0][len(p.preamble):]
    sys_suffix, user_prefix = _place(s["system"], u["user"], parts[1])
    zero = _split(_mark(render(conv[1:]), whole, indent, sep), [U1, A1, U2])
    if zero[1:] != parts[2:] or not zero[0].startswith(p.preamble) or not zero[0].endswith(user_prefix):
        raise ToolsUnsupported("tools are written differently when there is no system message")
    default = zero[0][len(p.preamble):len(zero[0]) - len(user_prefix)]
    if MARK not in sys_prefix + sys_suffix + user_prefix + default:
        raise ToolsUnsupported("the template writes the tools somewhere other than the first turns")
    pieces = dict(whole=whole, indent=indent, sep=sep, sys_prefix=sys_prefix, sys_suffix=sys_suffix,
                  user_prefix=user_prefix, default=default)
    pieces.update(_calls_pieces(render, s["user"], a, g))
    return ToolPieces(**pieces)


def _find_list(one: str, two: str):
    for whole, indent in LISTS:
        j1, j2 = (_dump(t if whole else t["function"], indent) for t in (T1, T2))
        if one.count(j1) == 1 and two.count(j1) == 1 and two.count(j2) == 1:
            pre, post = one.split(j1)
            pre2, rest = two.split(j1)
            sep, _, post2 = rest.partition(j2)
            if (pre2, post2) == (pre, post):
                return whole, indent, sep, pre + MARK + post
    if T1["function"]["name"] not in one:
        raise ToolsUnsupported("the template does not write the tools it is given")
    raise ToolsUnsupported("the template writes a tool other than as its tojson (spaced or indented)")


def _mark(text, whole, indent, sep) -> str:
    j1 = _dump(T1 if whole else T1["function"], indent)
    if text.count(j1) != 1:
        raise ToolsUnsupported("tools are written differently when there is no system message")
    return text.replace(j1, MARK)


def _place(suffix: str, prefix: str, tooled: str) -> tuple[str, str]:
    """Split the tooled text between the system prompt and the first user message into the system
    turn's suffix and the user turn's prefix, the tools block inserted into one of them."""
    plain = suffix + prefix
    extra = len(tooled) - len(plain)
    if extra == 0:
        if tooled != plain:
            raise ToolsUnsupported("tools change the text between the system prompt and the first user message")
        return suffix, prefix
    x = next((i for i in range(len(plain)) if plain[i] != tooled[i]), len(plain))
    y = next((i for i in range(len(plain)) if plain[-1 - i] != tooled[-1 - i]), len(plain))
    lo, hi = max(0, len(plain) - y), min(x, len(plain))
    if extra < 0 or lo > hi:
        raise ToolsUnsupported("tools change the text between the system prompt and the first user message")
    b = len(suffix)
    k = b if lo <= b <= hi else lo if hi < b else hi  # at the turn boundary, else as close to the content as allowed
    block = tooled[k:k + extra]
    if k <= b:
        return suffix[:k] + block + suffix[k:], prefix
    return suffix, prefix[:k - b] + block + prefix[k - b:]


def _calls_pieces(render, user_suffix: str, assistant_prefix: str, generation: str) -> dict:
    def turn(messages):  # the text after the first user message, less its suffix and the generation prompt
        text = _after(render(messages), U1)
        if not text.startswith(user_suffix) or not text.endswith(generation):
            raise ToolsUnsupported("a tool call changes how the turn before it or the generation prompt is written")
        return text[len(user_suffix):len(text) - len(generation)]

    w = turn([_user(U1), _calls((F1, ARGS1))])
    args_indent, a1 = _find_args(w, ARGS1)
    before, rest = _cut(w, F1)
    call_mid, after = _cut(rest, a1)
    try:
        w2 = turn([_user(U1), _calls((F1, ARGS1), (F2, ARGS2))])
    except ToolsUnsupported:
        w2 = None  # one call per turn (Llama 3.1/3.2 raise on more)
    if w2 is None:
        common = _common_prefix(before, assistant_prefix)
        call_prefix, call_pre, call_post, call_sep, call_suffix = before[:common], before[common:], "", "", after
    else:
        a2 = _dump(ARGS2, args_indent)
        head, rest2 = _cut(w2, F1)
        mid1, rest2 = _cut(rest2, a1)
        between, rest2 = _cut(rest2, F2)
        mid2, after2 = _cut(rest2, a2)
        if head != before or mid1 != call_mid or mid2 != call_mid or after2 != after:
            raise ToolsUnsupported("the template writes a second tool call differently from the first")
        n = _common_suffix(before, between)
        call_prefix, call_pre, joint = before[:len(before) - n], before[len(before) - n:], between[:len(between) - n]
        m = _common_prefix(joint, after)
        call_post, call_sep, call_suffix = joint[:m], joint[m:], after[m:]
    w3 = turn([_user(U1), _calls((F1, ARGS1), content=A1)])
    if A1 not in w3:
        if w3 != w:
            raise ToolsUnsupported("the template writes an assistant turn's content and tool calls in a way not derived")
        content = None
    else:
        left, right = w3.split(A1, 1)
        if not left.startswith(call_prefix) or not right.endswith(call_pre + F1 + call_mid + a1 + after) \
                or len(right) < len(call_pre + F1 + call_mid + a1 + after):
            raise ToolsUnsupported("the template writes an assistant turn's content after its tool calls")
        content = (left[len(call_prefix):], right[:len(right) - len(call_pre + F1 + call_mid + a1 + after)])
    out = dict(call_prefix=call_prefix, content=content, call_pre=call_pre, call_mid=call_mid, args_indent=args_indent,
               call_post=call_post, call_sep=call_sep, call_suffix=call_suffix)
    out.update(_results(turn, w))
    return out


def _results(turn, w: str) -> dict:
    call = _calls((F1, ARGS1))
    one = turn([_user(U1), call, {"role": "tool", "content": R1}])
    two = turn([_user(U1), call, {"role": "tool", "content": R1}, {"role": "tool", "content": R2}])
    if not one.startswith(w) or not two.startswith(w):
        raise ToolsUnsupported("a tool result changes how the tool call before it is written")
    one, two = one[len(w):], two[len(w):]
    quoted = _dump(R1, None) in one
    r1, r2 = (_dump(x, None) if quoted else x for x in (R1, R2))
    first, last = _cut(one, r1)
    head, rest = _cut(two, r1)
    between, last2 = _cut(rest, r2)
    if head != first or last2 != last:
        raise ToolsUnsupported("the template writes a second tool result differently from the first")
    n = _common_suffix(first, between)
    item_pre, group_pre, joint = first[len(first) - n:], first[:len(first) - n], between[:len(between) - n]
    if not last.startswith(joint):
        raise ToolsUnsupported("the template writes consecutive tool results in a way not derived")
    return dict(group_pre=group_pre, item_pre=item_pre, item_post=joint, group_post=last[len(joint):], quoted=quoted)


def _find_args(text: str, args: dict) -> tuple[int | None, str]:
    for indent in ARG_FORMATS:
        if text.count(_dump(args, indent)) == 1:
            return indent, _dump(args, indent)
    raise ToolsUnsupported("the template writes a tool call's arguments other than as their tojson")


def _after(text: str, sentinel: str) -> str:
    if text.count(sentinel) != 1:
        raise ToolsUnsupported("the template does not write the first user message exactly once with tools")
    return text.split(sentinel, 1)[1]


def _cut(text: str, sentinel: str) -> tuple[str, str]:
    if text.count(sentinel) != 1:
        raise ToolsUnsupported("the template does not write each tool call's name, arguments and result exactly once")
    head, tail = text.split(sentinel, 1)
    return head, tail


def _split(text: str, sentinels: list[str]) -> list[str]:
    parts, rest = [], text
    for s in sentinels:
        if text.count(s) != 1:
            raise ToolsUnsupported("the template does not write each message exactly once when there are tools")
        head, rest = rest.split(s, 1)
        parts.append(head)
    return parts + [rest]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return n
