"""Tool definitions (a row's tools field) that the model's chat template does not show are counted and
said, never silently dropped (issue #14): the tiny model's template ignores `tools`; a copy whose
template prints them renders every one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from whetstone_worker.data.chat import build_samples
from whetstone_worker.modeling import load_tokenizer

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _rows(path: Path) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"weather in city {i}?"}, {"role": "assistant", "content": f"sunny {i}"}],
             **({"tools": TOOLS} if i % 2 == 0 else {})} for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tools_the_template_ignores_are_counted(tiny_model, tmp_path):
    data = _rows(tmp_path / "tools.jsonl")
    samples, report = build_samples(load_tokenizer(tiny_model, False), data, 256, "drop")
    assert len(samples) == 6 and report.tools_not_rendered == 3


def test_tools_the_template_shows_are_not(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    template = (model / "chat_template.jinja").read_text()
    (model / "chat_template.jinja").write_text("{% if tools %}TOOLS: {{ tools | tojson }}\n{% endif %}" + template)
    data = _rows(tmp_path / "tools.jsonl")
    samples, report = build_samples(load_tokenizer(model, False), data, 256, "drop")
    assert len(samples) == 6 and report.tools_not_rendered == 0
