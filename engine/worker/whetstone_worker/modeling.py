"""Loading models and tokenizers, attaching LoRA, and saving what a run trains (shared by recipes
and generate.py).

Everything here takes local folders only (no hub downloads; HF_HUB_OFFLINE is set at start-up), so
a missing folder is MODEL_NOT_FOUND naming the path instead of a network error. Trained weights are
saved in the formats other tools read: a PEFT adapter folder (LoRA) or a save_pretrained model
folder (full), each with the tokenizer beside it. Final outputs are written to a temp folder and
renamed, like checkpoints, so an output folder that exists is always complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from .config import LoraConfig
from .errors import WorkerError


def check_model_dir(path: str | Path, what: str = "model", trust_remote_code: bool = False) -> Path:
    """The model folder, checked before anything is loaded: it exists, has config.json, and is a
    model type transformers knows, or ships its own code (auto_map) that the config allows to run."""
    folder = Path(path)
    if folder.is_dir() and (folder / "config.json").is_file():
        check_model_type(folder, what, trust_remote_code)
        return folder
    problem = "config.json is missing" if folder.is_dir() else "the folder does not exist"
    raise WorkerError(
        "MODEL_NOT_FOUND",
        f"No {what} at {folder}: {problem}",
        "Point model.path at a folder with config.json, the weights and the tokenizer files.",
    )


def check_model_type(folder: Path, what: str, trust_remote_code: bool) -> None:
    """MODEL_CUSTOM_CODE for a model whose classes live in its own .py files (auto_map) when
    trust_remote_code is off; MODEL_UNSUPPORTED for a model_type transformers does not know."""
    import json

    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WorkerError("MODEL_LOAD_FAILED", f"Cannot read {folder / 'config.json'}: {err}",
                          "Re-download or re-export the model: its config.json is damaged.") from None
    if not isinstance(config, dict):
        raise WorkerError("MODEL_LOAD_FAILED", f"{folder / 'config.json'} is not a JSON object.",
                          "Re-download or re-export the model: its config.json is damaged.")
    model_type, auto_map = config.get("model_type"), config.get("auto_map")
    if auto_map and not trust_remote_code:
        classes = ", ".join(sorted({str(v).split("--")[-1] for v in auto_map.values()})) if isinstance(auto_map, dict) else str(auto_map)
        raise WorkerError(
            "MODEL_CUSTOM_CODE",
            f"The {what} at {folder} ships its own Python code (auto_map in config.json: {classes}; "
            f"model_type {model_type!r}); Whetstone does not run a model's code unless told to.",
            "If you trust its publisher, set model.trust_remote_code: true in the run config. That code then runs "
            "on this machine with your user's rights (it can read and change your files), so read the folder's .py "
            "files first. Otherwise pick a model of a type transformers supports (llama, qwen2, mistral, gemma, phi3, …).",
        )
    if not auto_map and model_type not in CONFIG_MAPPING_NAMES:
        raise WorkerError(
            "MODEL_UNSUPPORTED",
            f"The {what} at {folder} has model_type {model_type!r}, which the installed transformers does not know "
            "and the folder brings no code for.",
            "Update the worker's packages (`whetstone setup`) in case a newer transformers supports it, or pick a "
            "model of a supported type (llama, qwen2, mistral, gemma, phi3, …).",
        )


def _load_failed(path, what: str, err: Exception) -> WorkerError:
    # A folder that exists but cannot be loaded is a problem with the model files, not a bug of ours:
    # say which part failed and what a loadable folder contains.
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return WorkerError(
        "MODEL_LOAD_FAILED",
        f"Cannot load the {what} from {path}: {type(err).__name__}: {first_line}",
        "The folder must be a complete Hugging Face model: config.json, *.safetensors weights and the "
        "tokenizer files (tokenizer.json, tokenizer_config.json). Re-download or re-export it.",
        recoverable=False,
    )


def load_tokenizer(path: str | Path, trust_remote_code: bool):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _load_failed(path, "tokenizer", err) from err


def load_model(path: str | Path, dtype: torch.dtype, trust_remote_code: bool, device: torch.device):
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, attn_implementation="sdpa", trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _load_failed(path, "model", err) from err
    model.config.use_cache = False  # the KV cache is for generation; in training it only costs memory
    return model.to(device)


def pad_id(tokenizer) -> int:
    # Pads are masked out of attention and loss, so any real id works when a model has no pad token.
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def apply_lora(model, lora: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig, get_peft_model

    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    peft_config = PeftLoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, task_type="CAUSAL_LM",
        use_dora=lora.variant == "dora", use_rslora=lora.variant == "rslora",
    )
    try:
        return get_peft_model(model, peft_config)
    except ValueError as err:  # PEFT's message names the modules it could not find
        raise WorkerError(
            "CONFIG_INVALID",
            f"lora.target_modules {targets!r} does not fit this model: {err}",
            "Use 'all-linear', or module names that exist in the model (e.g. q_proj, v_proj for Llama).",
        ) from None


def save_trainable(model, folder: Path, state_dict: dict | None = None) -> None:
    """The trained weights in their standard format: PEFT adapter folder, or save_pretrained model folder
    (`state_dict`: the weights gathered from a sharded model, instead of the model's own)."""
    # PEFT also writes a hub model card (README.md), rendered from a Jinja template it compiles at every
    # save: ~30 ms of a 12-step tiny run's 190 ms of checkpointing. In a checkpoint or an output it is
    # just noise (an export writes the model's real card), so the instance's card writer does nothing.
    peft_card = "create_or_update_model_card" in dir(type(model))
    if peft_card:
        model.create_or_update_model_card = lambda *args, **kwargs: None
    try:
        model.save_pretrained(str(folder), **({"state_dict": state_dict} if state_dict is not None else {}))
    finally:
        if peft_card:
            del model.create_or_update_model_card
    card = folder / "README.md"
    if card.exists():
        card.unlink()


def load_adapter_weights(model, folder: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = load_file(str(folder / "adapter_model.safetensors"), device=str(next(model.parameters()).device))
    unexpected = set_peft_model_state_dict(model, state).unexpected_keys
    if unexpected:
        raise WorkerError(
            "CHECKPOINT_CORRUPT",
            f"The adapter in {folder} does not fit the model ({len(unexpected)} unexpected tensors, e.g. {unexpected[0]}).",
            "The checkpoint was written for a different model or LoRA setup; start a new run.",
        )


def save_output(model, tokenizer, run_dir: Path, name: str, state_dict: dict | None = None) -> Path:
    """Write outputs/<name> (adapter or model + tokenizer) atomically; returns its path."""
    outputs = Path(run_dir) / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    final = outputs / name
    tmp = outputs / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_trainable(model, tmp, state_dict)
        tokenizer.save_pretrained(str(tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk must not keep a half output
        raise
    if final.exists():
        old = outputs / f".old-{name}-{os.getpid()}"
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, final)
    return final


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
