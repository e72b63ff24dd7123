"""fixtures/tiny.py: the built model folder is complete, ChatML-ready, and not rebuilt when current."""

from __future__ import annotations

import json

from whetstone_fixtures import tiny


def test_fixture_folder_is_a_complete_chat_model(tiny_model, tiny_tokenizer):
    names = {p.name for p in tiny_model.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "generation_config.json"} <= names
    assert tiny_tokenizer.eos_token == "<|im_end|>" and tiny_tokenizer.pad_token == "<pad>"
    assert 900 <= len(tiny_tokenizer) <= 1000
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    config = json.loads((tiny_model / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["tie_word_embeddings"]) == (64, 2, False)


def test_build_is_skipped_when_up_to_date(tiny_model):
    stamp = tiny_model / tiny.STAMP
    before = (stamp.stat().st_mtime_ns, (tiny_model / "model.safetensors").stat().st_mtime_ns)
    messages = []
    tiny.build(tiny_model, log=messages.append)
    assert messages == [f"tiny fixture: {tiny_model} is up to date (builder v{tiny.BUILDER_VERSION})"]
    assert before == (stamp.stat().st_mtime_ns, (tiny_model / "model.safetensors").stat().st_mtime_ns)
