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
    with pytest.raises(GoTemplateError, match="function json"):
        render("{{ json .Messages }}", {"Messages": []})
    with pytest.raises(GoTemplateError, match="end"):
        render("{{ if .X }}x", {})
