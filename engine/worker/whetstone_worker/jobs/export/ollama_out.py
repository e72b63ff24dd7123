"""`ollama` export: the GGUF file plus a Modelfile whose TEMPLATE is the model's chat template.

Ollama reads a Modelfile's TEMPLATE (Go text/template), not the jinja template inside the GGUF, so
the chat template is translated (ollama_template.py) and proven to render like transformers'
`apply_chat_template` before anything is written: a template that cannot be translated fails the
export in seconds, naming the construct, instead of after the weights. The GGUF is the `gguf`
export's (same quantizations); the Modelfile adds SYSTEM when the template has a default system
prompt, a `stop` per end-of-turn string, and the sampling defaults of generation_config.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import WorkerError
from . import gguf_out
from .context import Context
from .folder import chat_template
from .ollama_template import TranslationError, Translation, translate

validate = gguf_out.validate
estimate = gguf_out.estimate
# generation_config.json → Modelfile PARAMETER
SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "repetition_penalty": "repeat_penalty"}


def write(ctx: Context) -> None:
    translation = translation_for(ctx.tokenizer_dir)
    for note in translation.notes:
        ctx.log(f"Ollama template: {note}")
    gguf_out.write(ctx)
    gguf = next(p.name for p in ctx.staging.glob("*.gguf"))
    (ctx.staging / "Modelfile").write_text(modelfile(gguf, translation, _sampling(ctx.source.config_dir)), encoding="utf-8")
    ctx.checks["ollama_template"] = f"renders like the chat template on {translation.checked} conversations"
    if translation.notes:
        ctx.checks["ollama_template_notes"] = "; ".join(translation.notes)


def translation_for(folder: Path) -> Translation:
    """The folder's chat template as an Ollama template, or an EXPORT_UNSUPPORTED error naming why not."""
    from transformers import AutoTokenizer

    source = chat_template(folder)
    if not source:
        raise WorkerError("EXPORT_UNSUPPORTED", f"The tokenizer in {folder} has no chat template to translate for Ollama",
                          "Export --format gguf and write the Modelfile's TEMPLATE by hand.")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.chat_template = source

    def render(messages: list, generation: bool, tools: list | None = None) -> str:
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation)

    bos_id = tokenizer.bos_token_id
    adds_bos = bos_id is not None and tokenizer("a")["input_ids"][:1] == [bos_id]  # as the GGUF's add_bos says
    try:
        return translate(render, source, tokenizer.bos_token, tokenizer.eos_token, adds_bos)
    except TranslationError as err:
        raise WorkerError(
            "EXPORT_UNSUPPORTED",
            f"The chat template in {folder} cannot be written as an Ollama template: {err}",
            "Export --format gguf (llama.cpp and LM Studio read the jinja template in the file) and write the "
            "Modelfile's TEMPLATE by hand, or fine-tune with a template that writes each turn on its own (e.g. ChatML).",
        ) from err


def modelfile(gguf: str, t: Translation, sampling: dict) -> str:
    lines = ["# Ollama: `ollama create NAME -f Modelfile`, then `ollama run NAME`.",
             f"# TEMPLATE is the model's chat template translated by Whetstone; it renders the same prompt on "
             f"{t.checked} test conversations.",
             *[f"# Note: {' '.join(note.split())}." for note in t.notes],
             f"FROM ./{gguf}", f'TEMPLATE """{t.template}"""']
    if t.system:
        lines.append(f"SYSTEM {_value(t.system)}")
    lines += [f"PARAMETER stop {_value(stop)}" for stop in t.stops]
    lines += [f"PARAMETER {name} {value}" for name, value in sampling.items()]
    return "\n".join(lines) + "\n"


def _value(text: str) -> str:
    if '"' in text or "\n" in text or "\\" in text:
        if '"""' in text:
            raise WorkerError("EXPORT_UNSUPPORTED", f'The value {text!r} contains """, which a Modelfile cannot hold',
                              "Export --format gguf and write the Modelfile by hand.")
        return f'"""{text}"""'
    return f'"{text}"'


def _sampling(config_dir: Path) -> dict:
    path = config_dir / "generation_config.json"
    if not path.is_file():
        return {}
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("do_sample") is False:  # greedy in transformers
        return {"temperature": 0}
    return {name: config[key] for key, name in SAMPLING.items() if isinstance(config.get(key), (int, float))
            and not isinstance(config.get(key), bool)}
