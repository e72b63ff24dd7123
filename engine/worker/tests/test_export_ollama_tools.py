"""Tools in the `ollama` export: the real Qwen 2.5 and Llama 3.1/3.2 templates (fixtures/ollama/tools,
as those checkpoints ship them) translate with tools, and the Modelfile template renders the tool
conversations (tools in the system or first user turn, single and parallel calls, results alone
and in runs, JSON with <, & and quotes) exactly like the jinja template given `tools=`, with the
values Ollama's server passes. A template whose tool syntax is not derived keeps plain chat and
says why in a note; Ollama's output parser finds the right tool-call tag in the translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_export_ollama import jinja

from whetstone_worker.jobs.export.gotemplate import Node, parse
from whetstone_worker.jobs.export.gotemplate import render as go_render
from whetstone_worker.jobs.export.ollama_template import VERIFY_TOOLS, ollama_messages, ollama_values, translate

TOOLS = Path(__file__).parent / "fixtures" / "ollama" / "tools"
# template → (calls one turn may hold, the tag Ollama's tools parser takes from the translation)
FAMILIES = {"qwen2_5": (2, "<tool_call>"), "llama3_1": (1, "{"), "llama3_2": (1, "{")}


def _translate(name: str):
    source = (TOOLS / f"{name}.jinja").read_text(encoding="utf-8")
    return jinja(source), translate(jinja(source), source, "<s>", "</s>", adds_bos=True)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_real_templates_translate_tools_and_render_the_tool_conversations_exactly(name):
    render, t = _translate(name)
    assert t.tools and any("tool calls and tool results are translated" in n for n in t.notes)
    rendered = 0
    for tools, conversation in VERIFY_TOOLS:
        calls = max(len(m.get("tool_calls") or []) for m in conversation)
        if calls > FAMILIES[name][0]:
            with pytest.raises(Exception, match="only supports single tool-calls"):
                render(conversation, True, tools)
            continue
        want = render(conversation, True, tools)
        got = go_render(t.template, ollama_values(ollama_messages(conversation, t.system), tools))
        assert got == want or "<s>" + got == want
        rendered += 1
    assert rendered >= 5 and t.checked == 6 + rendered  # the plain proof and the tool proof
    assert "$.Tools" in t.template  # Ollama turns on the tools capability for templates that use .Tools


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_ollamas_tool_parser_finds_the_call_tag(name):
    assert _parse_tag(_translate(name)[1].template) == FAMILIES[name][1]


def test_tool_json_is_written_as_tojson_writes_it():
    render, t = _translate("llama3_1")
    tools, conversation = VERIFY_TOOLS[3]
    got = go_render(t.template, ollama_values(ollama_messages(conversation, t.system), tools))
    assert '"enum": [\n                        "celsius",' in got  # tojson(indent=4), nested three levels
    assert '{"name": "calculate", "parameters": {"exact": true, "expression": "(2 + 3) * 4 < 25 & \\"x\\"", ' \
           '"precision": 2}}' in got  # spaced, <&" as jinja writes them (Ollama's json would write \u003c)
    qwen = go_render(_translate("qwen2_5")[1].template, ollama_values(VERIFY_TOOLS[5][1], VERIFY_TOOLS[5][0]))
    assert '"days": 2.5}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n' \
           '<tool_response>\nrain\nlater: snow\n</tool_response><|im_end|>\n' in qwen


def test_properties_out_of_name_order_render_in_name_order_as_ollama_passes_them():
    render, t = _translate("qwen2_5")
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {
        "type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "string"}}}}}
    conversation = [{"role": "user", "content": "hi"}]
    got = go_render(t.template, ollama_values(ollama_messages(conversation, t.system), [tool]))
    assert '"properties": {"a": {"type": "string"}, "b": {"type": "string"}}' in got
    assert got != render(conversation, True, [tool])  # the documented difference, in the Modelfile's note
    assert "name order" in " ".join(t.notes)


def test_a_tool_syntax_that_is_not_derived_keeps_plain_chat_with_a_note():
    render, t = _translate("lfm2")  # lists tools but never writes a call's arguments
    assert not t.tools and "$.Tools" not in t.template
    assert any(n.startswith("tool calls are not translated (the template writes a tool call's arguments other than "
                            "as their tojson)") for n in t.notes)
    plain = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}{% if tools %}{% for t in tools %}" \
            "{{ t.function.name }}{% endfor %}{% endif %}{% if add_generation_prompt %}<assistant>{% endif %}"
    t = translate(jinja(plain), plain, None, None, adds_bos=False)
    assert not t.tools and "writes a tool other than as its tojson" in t.notes[0] and t.checked == 6


def _parse_tag(template: str) -> str:
    """tools/template.go's parseTag: the first text in the first `if` on the .ToolCalls field, up to `{`."""
    def find_if(nodes):
        for n in nodes:
            if n.kind == "if":
                for cond, body in n.branches:
                    if any(op[0] == "field" and "ToolCalls" in op[1] for cmd in cond for op in cmd):
                        return body
                    found = find_if(body)
                    if found is not None:
                        return found
                found = find_if(n.orelse)
                if found is not None:
                    return found
            elif n.kind in ("range", "with"):
                found = find_if(n.body) or find_if(n.orelse)
                if found is not None:
                    return found
        return None

    def first_text(nodes: list[Node]):
        for n in nodes:
            if n.kind == "text" and n.text.strip():
                return n.text
            if n.kind in ("if", "range", "with"):
                lists = [b for _, b in n.branches] + [n.orelse] if n.kind == "if" else [n.body, n.orelse]
                for body in lists:
                    text = first_text(body)
                    if text is not None:
                        return text
                return None
            if n.kind == "print":
                return None
        return None

    body = find_if(parse(template))
    text = first_text(body) if body is not None else None
    tag = (text or "").split("{", 1)[0].strip()
    return tag or "{"
