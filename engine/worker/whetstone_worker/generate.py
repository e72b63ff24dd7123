"""The `generate` command: answer each prompt with the base model, optionally with a LoRA adapter.

Prompts are rendered with the model's chat template and the generation prompt, exactly like the
training prefix, so what the user tries is what the adapter learned to continue. Greedy decoding
when temperature is 0 (reproducible without a seed), sampling otherwise with the generator seeded
per prompt (seed + index), so one prompt's answer does not depend on the prompts before it.
Generation stops at any end-of-turn token we know of, not only the tokenizer's eos, because many
chat models end a turn with a token (<|im_end|>, <|eot_id|>, <end_of_turn>) that is not their eos.
The command carries no trust_remote_code flag, so remote code is never run here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from . import modeling
from .data.chat import render
from .device import choose_precision, pick_device
from .errors import WorkerError
from .protocol import Emitter

END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")


def stop_token_ids(tokenizer, model) -> list[int]:
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN if t in vocab)
    return sorted(ids)


def greedy_batch(model, prompts: list[list[int]], new_tokens: int, pad_id: int) -> list[list[int]]:
    """Exactly `new_tokens` greedy tokens after each prompt (token ids), decoded as one left-padded batch.

    No stop at end-of-turn tokens: callers that compare a fixed number of tokens (the audit) need the
    argmax at every position, and a model that "ends" early and then rambles is part of the answer.
    Positions count real tokens only (pads get position 0 and are masked out), as in HF generate, so
    a padded row decodes like its prompt alone up to floating-point noise. A hand-written loop rather
    than `model.generate`, because generate fills an unset eos from the model's generation config and
    then stops there; the KV cache is the model's own (created on the first forward).
    """
    device = next(model.parameters()).device
    rows, width = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = torch.empty((rows, new_tokens), dtype=torch.long, device=device)
    extra = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}  # no full-prompt logits at prefill
    cache = None
    with torch.inference_mode():
        for step in range(new_tokens):
            output = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **extra)
            cache = output.past_key_values
            ids = output.logits[:, -1].argmax(-1, keepdim=True)  # argmax: first index on ties, deterministic
            out[:, step] = ids[:, 0]
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
    return out.tolist()


def _accepts(model, name: str) -> bool:
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return name in inspect.signature(inner.forward).parameters


def run(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> None:
    t0 = time.monotonic()
    prompts = command["prompts"]

    def progress(phase: str, current: int, total: int | None, unit: str, message: str) -> None:
        emitter.emit("progress", id=job_id, phase=phase, current=current, total=total, unit=unit,
                     elapsed_s=round(time.monotonic() - t0, 3), eta_s=None, message=message)

    model_dir = modeling.check_model_dir(command["model_path"])
    adapter = command["adapter_path"]
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise WorkerError(
            "MODEL_NOT_FOUND",
            f"No adapter at {adapter}: adapter_config.json is missing",
            "Point adapter_path at a run's outputs/adapter folder (or a checkpoint's adapter folder).",
        )
    device = pick_device()
    progress("load", 0, 1, "model", f"Loading {model_dir}" + (f" with the adapter {adapter}" if adapter else ""))
    tokenizer = modeling.load_tokenizer(model_dir, trust_remote_code=False)
    model = modeling.load_model(model_dir, choose_precision("auto", "auto", "lora", device).weights, False, device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    stops = stop_token_ids(tokenizer, model)
    progress("load", 1, 1, "model", "Model ready")

    from transformers import GenerationConfig

    sampling = command["temperature"] > 0
    settings = dict(max_new_tokens=command["max_new_tokens"], do_sample=sampling, eos_token_id=stops,
                    pad_token_id=modeling.pad_id(tokenizer), use_cache=True)
    if sampling:
        settings.update(temperature=command["temperature"], top_p=command["top_p"])
    else:  # unset the model's own sampling defaults so greedy really is greedy
        settings.update(temperature=None, top_p=None, top_k=None)
    generation_config = GenerationConfig(**settings)

    for index, messages in enumerate(prompts):
        if cancelled():
            emitter.emit("done", id=job_id, status="cancelled", result={"count": index})
            return
        text = render(tokenizer, messages, add_generation_prompt=True)
        encoded = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(device)
        if sampling:
            torch.manual_seed(command["seed"] + index)
        with torch.no_grad():
            output = model.generate(**encoded, generation_config=generation_config)
        new = output[0, encoded["input_ids"].shape[1] :].tolist()
        if new and new[-1] in stops:
            new = new[:-1]
        answer = tokenizer.decode(new, skip_special_tokens=True)
        emitter.emit("generation", id=job_id, index=index, text=answer, tokens=len(new))
        progress("generate", index + 1, len(prompts), "prompts", f"Answered {index + 1} of {len(prompts)} prompts")
    emitter.emit("done", id=job_id, status="completed", result={"count": len(prompts)})
