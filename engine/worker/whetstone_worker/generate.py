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
