"""The model card (README.md) of an export: what the model is, how it was made, how to use it.

The engine sends the facts it knows (run config, data manifest, final metrics, judge and audit
reports, the base model's licence, hub datasets) as the command's `card` object; this module adds the
export's own facts (format, files, checks) and renders Markdown with Hugging Face front matter
(library_name, base_model, license, datasets, tags). It renders what it is given: known sections in
a fixed order, any other fact under "Other facts", so a new fact on the engine side never breaks the
card. An export's card tells how to load the folder; a pushed repo's (`repo_id`) how to load it from
the hub.
"""

from __future__ import annotations

import json
import re
from typing import Any

SECTIONS = ("hyperparameters", "dataset", "metrics", "evaluation")
HUB_ID = r"[\w.-]+/[\w.-]+"
LIBRARY = {"safetensors": "transformers", "adapter": "peft", "gguf": "gguf", "ollama": "gguf", "onnx": "transformers.js"}
WHAT = {
    "safetensors": "the merged weights as a transformers model folder (safetensors)",
    "adapter": "the LoRA adapter alone, to load on top of the base model with PEFT",
    "gguf": "the merged weights as a GGUF file for llama.cpp, Ollama and LM Studio",
    "ollama": "the merged weights as a GGUF file with an Ollama Modelfile (chat template, stop strings, defaults)",
    "onnx": "the merged weights as an ONNX model for transformers.js and ONNX Runtime",
}


# Facts that go into the front matter or the opening lines, not into "Other facts".
HEADER_FACTS = ("name", "base_model", "base_model_name", "method", "finetune", "license", "license_name", "license_link", "datasets")


def render(facts: dict, export: dict, repo_id: str | None = None) -> str:
    name = str(facts.get("name") or "fine-tuned model")
    base = facts.get("base_model_name") or facts.get("base_model")
    fmt = export["format"]
    lines = _front_matter(facts, fmt) + [f"# {name}", ""]
    how = ", ".join(str(facts[k]) for k in ("method", "finetune") if facts.get(k))
    lines += [f"{name} is {_code(base) if base else 'a model'} fine-tuned with Whetstone{f' ({how})' if how else ''}. "
              f"This {'repo' if repo_id else 'folder'} holds {WHAT[fmt]}.", ""]
    lines += ["## Use it", ""] + _usage(fmt, export, facts, repo_id) + [""]
    if facts.get("hyperparameters"):
        lines += ["## Training", ""] + _table(("setting", "value"), _flatten(facts["hyperparameters"])) + [""]
    lines += _dataset(facts.get("dataset"))
    if facts.get("metrics"):
        lines += ["## Results", ""] + _table(("metric", "value"), _flatten(facts["metrics"])) + [""]
    lines += _evaluation(facts.get("evaluation"))
    lines += _export_section(export, facts)
    other = {k: v for k, v in facts.items() if k not in SECTIONS and k not in HEADER_FACTS}
    if other:
        lines += ["## Other facts", ""] + _table(("fact", "value"), _flatten(other)) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _front_matter(facts: dict, fmt: str) -> list[str]:
    meta = {"library_name": LIBRARY[fmt], "pipeline_tag": "text-generation"}
    hub_id = facts.get("base_model_name")
    if isinstance(hub_id, str) and re.fullmatch(HUB_ID, hub_id):  # only a Hub id means something elsewhere
        meta["base_model"] = hub_id
    for key in ("license", "license_name", "license_link"):  # the base model's, as its own card states it
        if isinstance(facts.get(key), str) and facts[key]:
            meta[key] = facts[key]
    datasets = [d for d in facts.get("datasets") or [] if isinstance(d, str) and re.fullmatch(HUB_ID, d)]
    if datasets:
        meta["datasets"] = datasets
    tags = ["whetstone", *(str(facts[k]) for k in ("method", "finetune") if facts.get(k)), fmt]
    out = ["---"] + [f"{k}: {json.dumps(v)}" for k, v in meta.items()] + ["tags:"] + [f"- {json.dumps(t)}" for t in tags]
    return out + ["---", ""]


def _usage(fmt: str, export: dict, facts: dict, repo_id: str | None) -> list[str]:
    source = json.dumps(repo_id or "path/to/this/folder")
    if fmt == "safetensors":
        return ["```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                f"model = AutoModelForCausalLM.from_pretrained({source})",
                f"tokenizer = AutoTokenizer.from_pretrained({source})", "```"]
    if fmt == "adapter":
        base = facts.get("base_model_name") or facts.get("base_model") or "BASE_MODEL"
        return ["```python", "from peft import PeftModel", "from transformers import AutoModelForCausalLM", "",
                f"base = AutoModelForCausalLM.from_pretrained({json.dumps(str(base))})",
                f"model = PeftModel.from_pretrained(base, {source})", "```"]
    if fmt == "gguf" and repo_id:
        return ["```sh", f"llama-cli -hf {repo_id} -cnv   # llama.cpp: the chat template is in the file",
                f"ollama run hf.co/{repo_id}", "```"]
    if fmt == "gguf":
        gguf = next((f["path"] for f in export["files"] if f["path"].endswith(".gguf")), "model.gguf")
        return ["```sh", f"llama-cli -m {gguf} -cnv        # llama.cpp: the chat template is in the file",
                "ollama create my-model -f Modelfile  # Ollama: then `ollama run my-model`", "```"]
    if fmt == "ollama":
        return ["```sh", "ollama create my-model -f Modelfile", "ollama run my-model", "```"]
    return ["```js", 'import { pipeline } from "@huggingface/transformers";', "",
            f'const generate = await pipeline("text-generation", {source}, {{ dtype: "fp32" }});', "```"]


def _dataset(data: Any) -> list[str]:
    if not isinstance(data, dict) or not data:
        return []
    lines = ["## Data", ""]
    for label, part in (("training", data), ("validation", data.get("validation"))):
        if not isinstance(part, dict) or not part:
            continue
        sha = part.get("sha256")
        rows = part.get("rows")
        text = f"- {label}: {_code(part.get('name', '?'))}"
        text += f", {rows} conversations" if rows is not None else ""
        text += f", sha256 `{sha}`" if sha else ""
        lines.append(text)
        extra = {k: v for k, v in part.items() if k not in ("name", "sha256", "rows", "validation")}
        lines += [f"  - {k}: {_value(v)}" for k, v in _flatten(extra)]
    return lines + [""]


def _evaluation(evaluation: Any) -> list[str]:
    if not isinstance(evaluation, dict) or not evaluation:
        return []
    lines = ["## Evaluation", ""] + _judge(evaluation.get("judge"))
    audit = evaluation.get("audit")
    if isinstance(audit, dict) and isinstance(audit.get("base"), dict) and isinstance(audit.get("tuned"), dict):
        lines += ["Memorization audit (training answers the model reproduces; lower is better):", ""]
        keys = [k for k in ("exact_match_rate", "lcs_ratio_mean", "semantic_similarity_mean") if k in audit["tuned"]]
        lines += _table(("metric", "base", "tuned"), [(k, audit["base"].get(k), audit["tuned"].get(k)) for k in keys])
        rest = {k: v for k, v in audit.items() if k not in ("base", "tuned")}
        lines += [""] + [f"- {k}: {_value(v)}" for k, v in _flatten(rest)] if rest else []
        lines.append("")
    others = {k: v for k, v in evaluation.items() if k not in ("audit", "judge")}
    if others:
        lines += _table(("result", "value"), _flatten(others)) + [""]
    return lines


def _judge(judge: Any) -> list[str]:
    """The pairwise judge's verdict on the tuned model against its base (Whetstone's eval report)."""
    if not isinstance(judge, dict) or not isinstance(judge.get("win_rate"), (int, float)):
        return []
    lines = [f"Judged against {judge.get('against') or 'the base model'} on {judge.get('prompts', '?')} held-out prompts by "
             f"{_code(judge.get('judge') or 'a local judge')}, each pair in both orders:", "",
             f"- win rate {_rate(judge['win_rate'], judge.get('win_rate_ci'))}"]
    if isinstance(judge.get("lc_win_rate"), (int, float)):
        lines.append(f"- length-controlled win rate {_rate(judge['lc_win_rate'], judge.get('lc_win_rate_ci'))}")
    if all(isinstance(judge.get(k), int) for k in ("wins", "ties", "losses")):
        lines.append(f"- {judge['wins']} wins, {judge['ties']} ties, {judge['losses']} losses")
    return lines + [""]


def _rate(value: float, ci: Any) -> str:
    text = f"{100 * value:.1f}%"
    if isinstance(ci, list) and len(ci) == 2:
        text += f" (95% CI {100 * ci[0]:.1f}% to {100 * ci[1]:.1f}%)"
    return text


def _export_section(export: dict, facts: dict) -> list[str]:
    rows = [("format", export["format"])]
    if export.get("quantization"):  # gguf, ollama: the tensor type says it all (the dtype is only the merge's)
        rows.append(("quantization", export["quantization"]))
    else:
        rows.append(("dtype", export["dtype"]))
    rows.append(("parameters", f"{export['parameters']:,}"))
    rows += [(f"check: {k}", v) for k, v in _flatten(export.get("checks") or {})]
    lines = ["## Export", ""] + _table(("property", "value"), rows) + ["", "Files:", ""]
    lines += [f"- `{f['path']}` ({f['bytes']:,} bytes)" for f in export["files"]]
    return lines + [""]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [(f"{prefix}{k}", v)]
        return out
    return [(prefix.rstrip("."), value)]


def _table(header: tuple, rows: list[tuple]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return out + ["| " + " | ".join(_value(c).replace("|", "\\|") for c in row) + " |" for row in rows]


def _value(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v) if v else "none"
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _code(text: Any) -> str:
    return f"`{text}`"
