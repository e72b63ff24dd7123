"""The `ollama` export: the chat template translated to an Ollama TEMPLATE and proven.

The translator is run on real Hugging Face templates (Ollama's template/index.json, copied to
fixtures/ollama) and on the tiny fixture model's own: each either renders exactly like jinja on the
test conversations (as Ollama's server would call it: SYSTEM injected, messages collated) or is
refused with the construct named. The export itself writes the GGUF, a Modelfile whose TEMPLATE is
re-read from disk and rendered again here, and the card; a template it cannot translate fails the
export before any weight is written. That the GGUF loads in llama.cpp is tests/engine/export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from export_fixtures import command, make_adapter, run_export
from support import Recorder

from whetstone_worker.errors import WorkerError
from whetstone_worker.jobs import export
from whetstone_worker.server import run_task
from whetstone_worker.jobs.export.gotemplate import render as go_render
from whetstone_worker.jobs.export.ollama_template import VERIFY, TranslationError, ollama_messages, ollama_values, translate

INDEX = json.loads((Path(__file__).parent / "fixtures" / "ollama" / "index.json").read_text(encoding="utf-8"))
# index.json entry → what the translator must do with it (the construct when it refuses).
REFUSED = {
    12: "first user turn differently",  # llama2-chat: a BOS before every [INST] but the first
    28: "first user turn differently",
    22: "system prompt inside the first user turn",  # gemma3-instruct
}
FAMILIES = ("chatml", "llama3-instruct", "mistral-instruct", "gemma-instruct", "phi-3", "zephyr", "command-r")


def jinja(source: str):
    from transformers.utils.chat_template_utils import _compile_jinja_template

    compiled = _compile_jinja_template(source)
    return lambda messages, generation, tools=None: compiled.render(
        messages=messages, tools=tools, add_generation_prompt=generation, bos_token="<s>", eos_token="</s>")


def modelfile_template(text: str) -> str:
    return re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M).group(1)


@pytest.mark.parametrize("i", range(len(INDEX)), ids=[f"{i}-{e['name']}" for i, e in enumerate(INDEX)])
def test_hugging_face_templates_translate_exactly_or_are_refused_by_name(i):
    entry = INDEX[i]
    render = jinja(entry["template"])
    if i in REFUSED:
        with pytest.raises(TranslationError, match=REFUSED[i]):
            translate(render, entry["template"], "<s>", "</s>", adds_bos=True)
        return
    t = translate(render, entry["template"], "<s>", "</s>", adds_bos=True)
    assert t.checked >= 5
    for conversation in VERIFY:  # again here, independently of translate's own proof
        try:
            want = render(conversation, True)
        except Exception:  # noqa: BLE001 - the template refuses system messages; translate noted it
            assert "refuses system messages" in " ".join(t.notes)
            continue
        got = go_render(t.template, ollama_values(ollama_messages(conversation, t.system)))
        assert "<s>" + got == want or got == want


def test_the_families_the_issue_names_translate():
    done = {e["name"] for i, e in enumerate(INDEX) if i not in REFUSED}
    assert set(FAMILIES) <= done


def test_translated_templates_read_like_ollamas():
    plain = next(e["template"] for e in INDEX if e["template"].startswith("{% for message in messages %}{{'<|im_start|>'"))
    chatml = translate(jinja(plain), plain, "<s>", "</s>", True)
    assert chatml.stops == ["<|im_end|>", "</s>"] and chatml.system is None
    assert '{{ else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' in chatml.template
    assert chatml.template.endswith("{{ end }}{{ end }}<|im_start|>assistant\n")
    qwen = next(i for i, e in enumerate(INDEX) if "You are a helpful assistant." in e["template"] and e["name"] == "chatml")
    t = translate(jinja(INDEX[qwen]["template"]), INDEX[qwen]["template"], "<s>", "</s>", True)
    assert t.system == "You are a helpful assistant." and t.stops[0] == "<|im_end|>"
    llama31 = translate(jinja(INDEX[24]["template"]), INDEX[24]["template"], "<s>", "</s>", True)
    assert "Cutting Knowledge Date" in llama31.template and llama31.stops[0] == "<|eot_id|>"
    assert llama31.tools and "$.Tools" in llama31.template  # Ollama enables tools when the template uses .Tools


def test_a_template_that_reorders_turns_is_refused_with_the_construct():
    source = ("{% for m in messages|reverse %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}"
              "{% if add_generation_prompt %}<assistant>{% endif %}")
    with pytest.raises(TranslationError, match="out of order"):
        translate(jinja(source), source, None, None, adds_bos=False)
    by_position = ("{% for m in messages %}{% if loop.index0 == 4 %}!{% endif %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>"
                   "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
    with pytest.raises(TranslationError, match="per-turn Ollama template cannot"):
        translate(jinja(by_position), by_position, None, None, adds_bos=False)


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory):
    return make_adapter(tiny_model, tmp_path_factory.mktemp("export-ollama") / "adapter")


def test_export_writes_gguf_modelfile_and_card_and_the_template_on_disk_renders_like_jinja(tiny_model, tiny_tokenizer, adapter, tmp_path):
    out = tmp_path / "ollama"
    done = run_export(command(tiny_model, adapter, out, fmt="ollama", quantization="q8_0")).of("done")[0]["result"]
    assert [f["path"] for f in done["files"]] == ["Modelfile", "README.md", "model-q8_0.gguf"]
    assert "renders like the chat template on 6 conversations" in done["checks"]["ollama_template"]
    text = (out / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./model-q8_0.gguf\n" in text and 'PARAMETER stop "<|im_end|>"' in text and "SYSTEM" not in text
    template = modelfile_template(text)
    for conversation in VERIFY:
        want = tiny_tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        assert go_render(template, ollama_values(ollama_messages(conversation, None))) == want
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "ollama create my-model -f Modelfile" in card and "Modelfile" in card


def test_an_untranslatable_template_fails_before_any_weight_is_written(tiny_model, adapter, tmp_path):
    import shutil

    tuned = tmp_path / "adapter"
    shutil.copytree(adapter, tuned)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tiny_model / name, tuned / name)
    (tuned / "chat_template.jinja").write_text(INDEX[22]["template"], encoding="utf-8")  # gemma3: system inside the user turn
    recorder = Recorder()
    with pytest.raises(WorkerError) as err:
        run_task(export.run, "export-1", command(tiny_model, tuned, tmp_path / "out", fmt="ollama", quantization="f16"),
                 recorder.emitter, lambda: False)
    assert err.value.code == "EXPORT_UNSUPPORTED"
    assert "system prompt inside the first user turn" in err.value.message and "TEMPLATE by hand" in err.value.hint
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))
    assert [e["phase"] for e in recorder.of("progress")] == ["load"]  # refused before the weights


def test_modelfile_quotes_values_and_takes_sampling_from_the_generation_config(tmp_path):
    from whetstone_worker.jobs.export.ollama_out import _sampling, modelfile
    from whetstone_worker.jobs.export.ollama_template import Translation

    t = Translation(template="{{ range .Messages }}{{ .Content }}{{ end }}", system='Say "hi".\nThen stop.', stops=["<|eot_id|>"],
                    checked=6, notes=["tool calls are not translated"])
    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"do_sample": True, "temperature": 0.6, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.05, "max_length": 4096}))
    text = modelfile("model-f16.gguf", t, _sampling(tmp_path))
    assert 'SYSTEM """Say "hi".\nThen stop."""\n' in text and 'PARAMETER stop "<|eot_id|>"\n' in text
    assert "PARAMETER temperature 0.6\nPARAMETER top_p 0.9\nPARAMETER top_k 20\nPARAMETER repeat_penalty 1.05\n" in text
    assert "# Note: tool calls are not translated." in text and "max_length" not in text
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": False, "temperature": 0.6}))
    assert _sampling(tmp_path) == {"temperature": 0}
