"""The non-weight files of a Hugging Face model folder: config, generation config, tokenizer, template.

They are copied as JSON/text from the run's folders rather than re-saved through transformers, so
fields transformers does not know survive and nothing needs remote code; only `dtype` is rewritten
to the exported dtype. The chat template is written both as chat_template.jinja (how transformers 5
saves it) and into tokenizer_config.json (where transformers.js, older transformers and other tools
read it), so every consumer finds the template the model was trained with.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .context import TOKENIZER_FILES


def write_config(config_dir: Path, dest: Path, dtype_name: str) -> None:
    config = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = dtype_name
    if "torch_dtype" in config:
        config["torch_dtype"] = dtype_name
    config.pop("use_cache", None)  # training turns the cache off; the default (on) is right for inference
    _write_json(dest / "config.json", config)
    generation = config_dir / "generation_config.json"
    if generation.is_file():
        shutil.copyfile(generation, dest / "generation_config.json")


def copy_tokenizer(src: Path, dest: Path) -> None:
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
    extra = src / "additional_chat_templates"
    if extra.is_dir():
        shutil.copytree(extra, dest / extra.name, dirs_exist_ok=True)
    template = chat_template(dest)
    config_path = dest / "tokenizer_config.json"
    if template and config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not config.get("chat_template"):
            config["chat_template"] = template
            _write_json(config_path, config)


def chat_template(folder: Path) -> str | None:
    """The folder's default chat template, wherever this transformers version put it."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
            if isinstance(value, list):  # named templates: take the default one
                value = next((t.get("template") for t in value if t.get("name") == "default"), None)
            if isinstance(value, str) and value:
                return value
    return None


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
