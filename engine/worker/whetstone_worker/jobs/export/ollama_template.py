"""A model's jinja chat template as an Ollama TEMPLATE (Go text/template), derived and then proven.

Derivation does not parse jinja: it renders probe conversations whose contents are sentinel strings
and reads off the text around them. A template Ollama can express writes each turn as
`prefix(role) + content + suffix(role)`, after a fixed preamble, and ends with a generation prompt,
so four renders pin every piece: [user], [user, assistant], [user, assistant, user] (each with the
generation prompt) give the user and assistant pieces and the generation prompt; [system, user,
assistant, user] gives the system pieces. Text written before the first turn when there is no
system message is a default system prompt (Qwen 2.5's "You are Qwen…", Llama 3.1's dates): it
becomes the Modelfile's SYSTEM, and the template writes it too, so the raw API renders alike.

Ambiguous splits (where a suffix ends and the next prefix starts) are resolved by trying each and
preferring the one whose generation prompt is the assistant turn's prefix; what a split cannot express (a system prompt
folded into the first user turn, turns written differently by position) fails the proof.

Proof: every conversation of VERIFY, rendered by the Go template through gotemplate.py with the
values Ollama's server passes (its SYSTEM injected, consecutive same-role messages collated), must
equal the jinja render string for string (less the BOS token that llama.cpp adds itself); anything
else is a TranslationError that names the construct. Never a Modelfile that renders differently.

Tools (ollama_tools.py derives, ollama_emit.py writes): a template that mentions tools gets the tools
list, tool calls and tool results translated too when they are derived and the conversations of
VERIFY_TOOLS render identically (Qwen 2.5 / Hermes, Llama 3.1 / 3.2); otherwise it still translates
for plain chat and `notes` says why tools were left out.
Pure Python; the jinja renderer is passed in (ollama_out.py gives it transformers').
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from .gojson import Args, PropertyType, Struct
from .gotemplate import render as go_render
from .ollama_emit import emit
from .ollama_tools import A1, SYS, U1, U2, ToolPieces, ToolsUnsupported, derive_tools

Render = Callable[..., str]  # (messages, add_generation_prompt, tools=None) -> prompt text

_S = "You are a concise assistant. Answer in one sentence."
VERIFY: list[list[dict]] = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": _S}, {"role": "user", "content": "Name a prime number."}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke about {{ braces }} and {% tags %}."}],
    [{"role": "system", "content": "Line one.\nLine two: \"quoted\"."},
     {"role": "user", "content": "Translate 'chat' to German."}, {"role": "assistant", "content": "Gespräch — or Plaudern."},
     {"role": "user", "content": "And to Japanese? 日本語で"}, {"role": "assistant", "content": "チャット"},
     {"role": "user", "content": "Thanks.\n\nBye."}],
    [{"role": "user", "content": "Write:\n```python\nprint('hi')\n```"}, {"role": "assistant", "content": "Done:\n\n- a\n- b"},
     {"role": "user", "content": "<b>tags</b> & entities &amp; \\n backslashes"}],
    [{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"}, {"role": "user", "content": "Three"},
     {"role": "assistant", "content": "Four"}, {"role": "user", "content": "Five"}],
]


_WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.", "parameters": {
        "type": "object", "properties": {
            "city": {"type": "string", "description": "The city, e.g. \"Zürich\" or 'São Paulo'."},
            "days": {"type": "integer", "description": "How many days to forecast (1-7)."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The unit <C or F> & more."}},
        "required": ["city"]}}}
_CALC = {"type": "function", "function": {
    "name": "calculate", "description": "Evaluate an arithmetic expression.", "parameters": {
        "type": "object", "properties": {
            "expression": {"type": "string"}, "precision": {"type": "integer", "description": "Decimal places."},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Labels."}},
        "required": ["expression", "precision"]}}}
_NOW = {"type": "function", "function": {"name": "now", "description": "The current time.",
                                         "parameters": {"type": "object", "properties": {}}}}


def _call(name: str, arguments: dict) -> dict:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


_PARIS = {"role": "assistant", "tool_calls": [_call("get_weather", {"city": "Paris", "unit": "celsius"})]}
# (tools, messages): the tool conversations of the proof, each also rendered by the jinja template.
VERIFY_TOOLS: list[tuple[list[dict], list[dict]]] = [
    ([_WEATHER], [{"role": "system", "content": _S}, {"role": "user", "content": "What's the weather in Paris?"}]),
    ([_WEATHER, _CALC, _NOW], [{"role": "user", "content": "Weather in Zürich, and what is 2 + 2?"}]),
    ([_WEATHER], [{"role": "user", "content": "Weather in Paris?"}, _PARIS,
                  {"role": "tool", "content": '{"temperature": 22, "unit": "celsius", "sky": "clear & <sunny>"}'}]),
    ([_WEATHER, _CALC], [{"role": "system", "content": _S}, {"role": "user", "content": "What is (2 + 3) * 4 < 25?"},
                         {"role": "assistant", "content": "Let me compute that.", "tool_calls": [
                             _call("calculate", {"exact": True, "expression": "(2 + 3) * 4 < 25 & \"x\"", "precision": 2})]},
                         {"role": "tool", "content": "true"}, {"role": "assistant", "content": "Yes: 20 < 25."},
                         {"role": "user", "content": "Thanks!"}]),
    ([_WEATHER, _NOW], [{"role": "user", "content": "Time now?"},
                        {"role": "assistant", "content": "", "tool_calls": [_call("now", {})]},
                        {"role": "tool", "content": "12:00"}, {"role": "assistant", "content": "It is noon."},
                        {"role": "user", "content": "And the weather in Tokyo for 3 days, in fahrenheit?"}]),
    ([_WEATHER], [{"role": "user", "content": "Paris and Tokyo?"},  # two calls in one turn (where the template allows it)
                  {"role": "assistant", "tool_calls": [_call("get_weather", {"city": "Paris"}),
                                                       _call("get_weather", {"city": "Tokyo", "days": 2.5})]},
                  {"role": "tool", "content": "sunny"}, {"role": "tool", "content": "rain\nlater: snow"}]),
]
TOOLS_NOTE = ("tools, tool calls and tool results are translated; Ollama passes a tool's properties and a call's arguments "
              "to the template as maps, so they are written in name order, and it drops schema keys it does not know "
              "(nullable, default, nested objects)")


class TranslationError(ValueError):
    """The template has a construct an Ollama template cannot express; `construct` says which."""

    def __init__(self, construct: str, detail: str = ""):
        super().__init__(construct + (f" ({detail})" if detail else ""))
        self.construct = construct


@dataclass
class Pieces:
    preamble: str
    prefix: dict
    suffix: dict
    generation: str
    default_system: str | None  # None: no system block without a system message
    system: str  # "turn" (its own turn), "ignored" (renders nothing) or "rejected" (the jinja raises)


@dataclass
class Translation:
    template: str
    system: str | None  # the Modelfile's SYSTEM, when the template has a default system prompt
    stops: list[str]
    checked: int  # conversations rendered identically
    notes: list[str] = field(default_factory=list)
    tools: bool = False  # tool definitions, calls and results are translated


def translate(render: Render, source: str, bos: str | None, eos: str | None, adds_bos: bool) -> Translation:
    strip = bos if adds_bos and bos else ""

    def r(messages, generation=True, tools=None):
        text = render(messages, generation, tools)
        return text[len(strip):] if strip and text.startswith(strip) else text

    pieces = derive(r)
    notes, tools, checked_tools = [], None, 0
    if "tools" in source:
        try:
            tools = derive_tools(r, pieces)
            checked_tools = verify_tools(emit(pieces, tools), pieces, r)
            notes.append(TOOLS_NOTE)
        except (ToolsUnsupported, TranslationError) as err:
            tools = None
            notes.append(f"tool calls are not translated ({err}): the Ollama template renders system, user and assistant turns")
    template = emit(pieces, tools)
    if '"""' in template:
        raise TranslationError('the template contains """, which ends a Modelfile TEMPLATE block')
    checked = verify(template, pieces, r) + checked_tools
    if pieces.system == "rejected":
        notes.append("the template refuses system messages; Ollama's template leaves them out")
    if not _keeps_whitespace(r):
        notes.append("the template trims message contents; Ollama's template does not (contents without outer whitespace render alike)")
    return Translation(template, pieces.default_system or None, stops(pieces, eos), checked, notes, tools is not None)


def derive(r: Callable[..., str]) -> Pieces:
    u1, a1, u2 = ({"role": "user", "content": U1}, {"role": "assistant", "content": A1}, {"role": "user", "content": U2})
    one = _split(_try(r, [u1], "a single user message"), [U1])
    two = _split(_try(r, [u1, a1], "a user message and an answer"), [U1, A1])
    three = _split(_try(r, [u1, a1, u2], "a user, assistant, user conversation"), [U1, A1, U2])
    if one[0] != three[0] or two[0] != three[0] or two[1] != three[1]:
        raise TranslationError("the template writes a turn differently depending on the turns after it")
    start, mid_ua, mid_au, end_u = three
    end_a = two[2]
    if one[1] != end_u:
        raise TranslationError("the template writes the last user turn differently from earlier ones")
    splits = []
    for cut in range(_common_suffix(end_u, end_a) + 1):
        generation = end_u[len(end_u) - cut:]
        s_u, s_a = end_u[:len(end_u) - cut], end_a[:len(end_a) - cut]
        if mid_ua.startswith(s_u) and mid_au.startswith(s_a) and start.endswith(mid_au[len(s_a):]):
            splits.append((generation, s_u, s_a, mid_ua[len(s_u):], mid_au[len(s_a):]))
    if not splits:
        raise TranslationError("the template writes the first user turn differently from later ones")
    generation, s_u, s_a, p_a, p_u = max(splits, key=_natural)
    before = start[:len(start) - len(p_u)]
    prefix, suffix = {"user": p_u, "assistant": p_a}, {"user": s_u, "assistant": s_a}
    system, preamble, default = _system(r, [u1, a1, u2], three, prefix, suffix, before)
    return Pieces(preamble, prefix, suffix, generation, default, system)


def _system(r, conversation, three, prefix, suffix, before):
    try:
        text = r([{"role": "system", "content": SYS}, *conversation])
    except Exception:  # noqa: BLE001 - jinja's raise_exception: the template refuses system messages
        return "rejected", before, None
    if SYS not in text:
        if text != r(conversation):
            raise TranslationError("the template uses the system message without writing it")
        return "ignored", before, None
    if text.count(SYS) != 1:
        raise TranslationError("the template writes the system prompt more than once")
    if text.find(SYS) > text.find(U1):
        raise TranslationError("the template moves the system prompt after a user turn")
    start1, rest = text.split(SYS, 1)
    mid_su, rest = rest.split(U1, 1)
    if rest != three[1] + A1 + three[2] + U2 + three[3]:
        raise TranslationError("the system prompt changes how later turns are written")
    if not mid_su.endswith(prefix["user"]):
        raise TranslationError("the template puts the system prompt inside the first user turn")
    suffix["system"] = mid_su[:len(mid_su) - len(prefix["user"])]
    for k in range(len(before) + 1):  # the shortest preamble that makes the rest a system turn
        head, block = before[:k], before[k:]
        if not start1.startswith(head):
            break
        prefix["system"] = start1[k:]
        if not block:
            return "turn", head, None
        if block.startswith(prefix["system"]) and block.endswith(suffix["system"]) \
                and len(block) >= len(prefix["system"]) + len(suffix["system"]):
            return "turn", head, block[len(prefix["system"]):len(block) - len(suffix["system"])]
    raise TranslationError("the template writes text before the first turn that is neither fixed nor a system turn")


def stops(p: Pieces, eos: str | None) -> list[str]:
    out = []
    end = p.suffix["assistant"].strip()
    if end:
        out.append(end)
    elif p.prefix["user"].strip():  # no end-of-turn marker: stop where the next user turn would start
        out.append(p.prefix["user"].strip())
    if eos and eos not in out:
        out.append(eos)
    return out


def verify(template: str, p: Pieces, r: Callable[..., str]) -> int:
    conversations = [c for c in VERIFY if p.system != "rejected" or c[0]["role"] != "system"]
    if p.system == "rejected":
        conversations.append([{"role": "user", "content": "Summarize: the cat sat on the mat."}])
    for conversation in conversations:
        want = r(conversation)
        got = go_render(template, ollama_values(ollama_messages(conversation, p.default_system)))
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            roles = ", ".join(m["role"] for m in conversation)
            raise TranslationError(
                "the template writes turns in a way a per-turn Ollama template cannot (e.g. by position or by a "
                "condition on other messages)",
                f"[{roles}] differs at character {at}: jinja {want[max(0, at - 20):at + 30]!r}, "
                f"Ollama {got[max(0, at - 20):at + 30]!r}")
    return len(conversations)


def verify_tools(template: str, p: Pieces, r: Callable[..., str]) -> int:
    checked = 0
    for tools, conversation in VERIFY_TOOLS:
        if p.system == "rejected" and conversation[0]["role"] == "system":
            continue
        try:
            want = r(conversation, True, tools)
        except Exception:  # noqa: BLE001 - e.g. Llama 3.1 raises on two calls in one turn; nothing to match
            continue
        got = go_render(template, ollama_values(ollama_messages(conversation, p.default_system), tools))
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            roles = ", ".join(m["role"] for m in conversation)
            raise TranslationError("the tool conversations render differently",
                                   f"[{roles}] differs at character {at}: jinja {want[max(0, at - 30):at + 30]!r}, "
                                   f"Ollama {got[max(0, at - 30):at + 30]!r}")
        checked += 1
    if checked < 5:
        raise TranslationError("the template renders fewer than 5 of the tool conversations")
    return checked


def ollama_messages(messages: list[dict], system: str | None) -> list[dict]:
    """What Ollama's chat handler sends the template: the Modelfile SYSTEM first when the request has none."""
    if system and (not messages or messages[0]["role"] != "system"):
        return [{"role": "system", "content": system}, *messages]
    return list(messages)


def ollama_values(messages: list[dict], tools: list[dict] | None = None) -> dict:
    """The template's values as Ollama's template.Execute builds them from a chat request holding these
    messages and tools: consecutive messages of one role (tools aside) merged with a blank line (their
    content only), `.System` every system message joined, tool calls and tools as Go values."""
    collated: list[dict] = []
    for m in messages:
        content = m.get("content") or ""
        if collated and collated[-1]["Role"] == m["role"] and m["role"] != "tool":
            collated[-1]["Content"] += "\n\n" + content
        else:
            calls = [Struct(ID=c.get("id", ""), Function=Struct(Index=i, Name=c["function"]["name"], Arguments=Args(
                _go_numbers(_arguments(c["function"].get("arguments")))))) for i, c in enumerate(m.get("tool_calls") or [])]
            collated.append({"Role": m["role"], "Content": content, "Images": [], "ToolCalls": calls,
                             "ToolName": m.get("tool_name") or m.get("name") or "", "ToolCallID": m.get("tool_call_id", ""),
                             "Thinking": ""})
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    return {"System": system, "Messages": collated, "Tools": [_tool_value(t) for t in tools or []], "Response": "",
            "Think": False, "ThinkLevel": "", "IsThinkSet": False}


def _tool_value(tool: dict) -> Struct:
    """api.Tool as Ollama decodes it (keys it does not know dropped) and hands it to templates."""
    f = tool.get("function") or {}
    params = f.get("parameters") or {}
    props = {name: Struct(AnyOf=[], Type=PropertyType([p["type"]] if isinstance(p.get("type"), str) else p.get("type") or []),
                          Items=_go_numbers(p.get("items")), Description=p.get("description", ""),
                          Enum=_go_numbers(p.get("enum") or []), Properties=None, Required=[])
             for name, p in (params.get("properties") or {}).items()}
    return Struct(Type=tool.get("type", ""), Items=None, Function=Struct(
        Name=f.get("name", ""), Description=f.get("description", ""), Parameters=Struct(
            Type=params.get("type", ""), Defs=params.get("$defs"), Items=params.get("items"),
            Required=list(params.get("required") or []), Properties=props)))


def _arguments(arguments) -> dict:
    return json.loads(arguments) if isinstance(arguments, str) else dict(arguments or {})


def _go_numbers(value):
    """JSON numbers as Go decodes them into interface{} values: float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_go_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    return value


def _natural(split) -> tuple:
    """How much a split looks like turns written by hand: the generation prompt is the whole
    assistant prefix, each turn ends with a suffix of its own, no cut inside a <tag> or [tag], a
    prefix starts with a marker rather than whitespace; then the longest generation prompt."""
    generation, s_u, s_a, p_a, _ = split
    whole = s_u.rfind("<") <= s_u.rfind(">") and s_u.rfind("[") <= s_u.rfind("]")
    starts = generation[:1]
    return (generation == p_a, whole, bool(s_u and s_a), starts in ("<", "["), bool(starts.strip()), len(generation))


def _keeps_whitespace(r) -> bool:
    try:
        return f"  {U1} \n" in r([{"role": "user", "content": f"  {U1} \n"}])
    except Exception:  # noqa: BLE001 - a template that refuses such content is reported by the proof, not here
        return True


def _try(r, messages, what) -> str:
    try:
        return r(messages)
    except Exception as err:  # noqa: BLE001 - any jinja failure on a plain conversation
        raise TranslationError(f"the template fails on {what}", str(err)) from err


def _split(text: str, sentinels: list[str]) -> list[str]:
    parts, rest = [], text
    for s in sentinels:
        if text.count(s) != 1:
            raise TranslationError("the template does not write each message's content exactly once, unchanged")
        if s not in rest:
            raise TranslationError("the template writes the messages out of order")
        head, rest = rest.split(s, 1)
        parts.append(head)
    return parts + [rest]


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return n
