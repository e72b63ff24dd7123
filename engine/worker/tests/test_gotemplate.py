"""The Go template renderer against Ollama's own templates and expected prompts (fixtures/ollama,
copied from Ollama's repository), plus the constructs the translated Modelfiles use."""

from __future__ import annotations

from pathlib import Path

import pytest

from whetstone_worker.jobs.export.gotemplate import GoTemplateError, render
from whetstone_worker.jobs.export.ollama_template import ollama_values

OLLAMA = Path(__file__).parent / "fixtures" / "ollama"
# template/template_test.go's TestTemplate conversations, named by their roles.
HELLO = {"role": "user", "content": "Hello, how are you?"}
GREAT = {"role": "assistant", "content": "I'm doing great. How can I help you today?"}
SHOW = {"role": "user", "content": "I'd like to show off how chat templating works!"}
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CASES = {"user": [HELLO], "user-assistant-user": [HELLO, GREAT, SHOW], "system-user-assistant-user": [SYSTEM, HELLO, GREAT, SHOW]}
# Ollama's test strips one trailing space from these templates' output before comparing.
TRAILING_SPACE = {"llama2-chat", "mistral-instruct"}


@pytest.mark.parametrize("name", sorted(p.stem for p in OLLAMA.glob("*.gotmpl")))
@pytest.mark.parametrize("case", sorted(CASES))
def test_renders_ollamas_templates_like_ollama(name, case):
    template = (OLLAMA / f"{name}.gotmpl").read_text(encoding="utf-8")
    got = render(template, ollama_values(CASES[case]))
    if name in TRAILING_SPACE and got.endswith(" "):
        got = got[:-1]
    assert got == (OLLAMA / "testdata" / f"{name}.gotmpl" / case).read_text(encoding="utf-8")


def test_variables_functions_and_trimming():
    data = {"Messages": [{"Role": "user", "Content": "a"}, {"Role": "assistant", "Content": "b"}], "System": ""}
    template = ('{{- $n := len .Messages }}{{ range $i, $m := .Messages -}}\n  [{{ $i }}:{{ $m.Role }}'
                '{{ if and (eq $m.Role "user" "tool") (lt $i 1) }}!{{ else if ne $m.Role "user" }}?{{ end }}]'
                '{{ if eq (len (slice $.Messages $i)) 1 }}last{{ end }}{{ end }} {{ printf "%s/%d" "n" $n }}'
                '{{ or .System "none" }}{{ /* gone */ }}{{ .Missing }}')
    assert render(template, data) == "[0:user!][1:assistant?]last n/2none<no value>"


def test_unknown_constructs_are_errors_that_name_them():
    with pytest.raises(GoTemplateError, match="function toTypeScriptType"):
        render("{{ toTypeScriptType .Messages }}", {"Messages": []})
    with pytest.raises(GoTemplateError, match="end"):
        render("{{ if .X }}x", {})


def test_ollamas_json_and_fmt_verbs_write_what_go_writes():
    from whetstone_worker.jobs.export.gojson import Args, PropertyType

    data = {"A": Args({"b": "<x & y>", "a": 2.0, "c": [1e-7, 1e21, 0.00001, True, None]}), "T": PropertyType(["string"]),
            "S": 'say "hi"\n\u00a0é\x01'}
    # encoding/json: compact, sorted keys, HTML-escaped, float64 shortest ('e' below 1e-6 and from 1e21 on, e-7 not e-07)
    assert render("{{ .A }}|{{ json .A }}", data) == ('{"a":2,"b":"\\u003cx \\u0026 y\\u003e","c":[1e-7,1e+21,0.00001,true,null]}'
                                                      '|{"a":2,"b":"\\u003cx \\u0026 y\\u003e","c":[1e-7,1e+21,0.00001,true,null]}')
    # strconv.Quote: printable runes as they are, others escaped (\u00a0 is not printable in Go)
    assert render('{{ printf "%q" .S }}', data) == '"say \\"hi\\"\\n\\u00a0é\\x01"'
    assert render('{{ printf "%T %T %T %T" .S .A.a .A.c .T }}{{ json .T }}{{ .T }}', data) == \
        'string float64 []interface {} api.PropertyType"string"string'
    assert render('{{ (index .M 1).Role }}{{ with .M }}{{ (index . 0).Role }}{{ end }}', {"M": [{"Role": "a"}, {"Role": "b"}]}) == "ba"
    assert render("{{ $x := true }}{{ range .M }}{{ $x = false }}{{ end }}{{ $x }}", {"M": [1]}) == "false"
