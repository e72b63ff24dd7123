"""The `generate` command: answer a list of prompts with the base model, the tuned model, or both.

Prompts are rendered with the model's chat template and the generation prompt, exactly like the
training prefix, so what the user tries is what the adapter learned to continue. Greedy decoding
when temperature is 0 (reproducible without a seed), sampling otherwise (temperature, nucleus top_p)
with one generator per prompt seeded with seed + index, so a prompt's answer depends neither on the
prompts before it nor on how the prompts were batched. Generation stops at any end-of-turn token we
know of, not only the tokenizer's eos, because many chat models end a turn with a token
(<|im_end|>, <|eot_id|>, <end_of_turn>) that is not their eos; each answer says whether it stopped
there (`stop`) or ran out of tokens (`length`).

Base and tuned: with a LoRA adapter, the adapter is attached to the one base model and the base
answers come from inside `disable_adapter()`: no second copy of the weights. A full fine-tune's
folder is loaded after the base is freed, never beside it.

Batching: prompts are sorted by length and decoded in left-padded batches with a KV cache (the same
limits as the audit), halving a batch that runs out of memory. `stream: true` sends a `token` event
with each new piece of text (decoded incrementally, holding back an incomplete UTF-8 character), for
the chat playground. Everything the run stores comes back in `done.result`: the settings used and
one {text, tokens, finish} per prompt and side. The command carries no trust_remote_code flag, so
remote code is never run here.
"""

from __future__ import annotations

import contextlib
import gc
import time
from pathlib import Path
from typing import Callable

import torch

from .. import modeling
from ..data.chat import render
from ..device import inference_device
from ..errors import Cancelled, WorkerError
from ..protocol import Emitter

# Rows and tokens per greedy batch on each device (generation and the memorization audit share them).
MAX_BATCH = {"cuda": 64, "mps": 16, "cpu": 8}
BATCH_TOKENS = {"cuda": 32768, "mps": 8192, "cpu": 4096}


def attach_adapter(model, folder: Path):
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, str(folder)).eval()
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise WorkerError(
            "MODEL_LOAD_FAILED",
            f"Cannot attach the adapter {folder} to the base model: {type(err).__name__}: {first}",
            "The adapter must have been trained on this base model (model_path): use the run's own base model.",
        ) from err


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
    rows = len(prompts)
    ids, mask, positions = left_padded(prompts, pad_id, device)
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


def left_padded(prompts: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, attention mask, position ids) of prompts left-padded to one width; positions count real tokens only."""
    rows, width = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def _accepts(model, name: str) -> bool:
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return name in inspect.signature(inner.forward).parameters


SIDES = ("base", "tuned")


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> int:
    """One token from one row of logits: argmax when greedy, else nucleus sampling with `generator`."""
    if temperature <= 0 or generator is None:
        return int(logits.argmax())
    probs = torch.softmax(logits.float().cpu() / temperature, dim=-1)
    if top_p < 1:
        ordered, order = probs.sort(descending=True)
        keep = ordered.cumsum(0) - ordered < top_p  # the smallest prefix whose mass reaches top_p (never empty)
        probs = torch.zeros_like(probs).scatter(0, order[keep], ordered[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def decode_batch(model, prompts: list[list[int]], seeds: list[int], max_new_tokens: int, temperature: float, top_p: float,
                 stops: set[int], pad_id: int, on_token: Callable[[int, list[int]], None] | None = None,
                 keep_stop: bool = False, until: Callable[[int, list[int]], bool] | None = None) -> list[tuple[list[int], str]]:
    """(new token ids without the stop token, "stop" | "length") per prompt, decoded as one left-padded batch;
    `keep_stop`: the stop token that ended a row stays at its end (training on a completion learns where it stops);
    `until(row, ids so far)`: True ends the row there with "stop" (a stop text, which no single token marks).

    Positions count real tokens only and pads are masked out, as in greedy_batch. A finished row keeps
    being fed its last token (its output is ignored) so the batch stays rectangular; the loop ends when
    every row has stopped. `on_token(row, ids so far)` is called after each new token of a live row.
    """
    device = next(model.parameters()).device
    rows = len(prompts)
    ids, mask, positions = left_padded(prompts, pad_id, device)
    generators = [torch.Generator().manual_seed(seed) if temperature > 0 else None for seed in seeds]
    out: list[list[int]] = [[] for _ in prompts]
    finish = ["length"] * rows
    live = set(range(rows))
    extra = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    cache = None
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            output = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **extra)
            cache = output.past_key_values
            logits = output.logits[:, -1]
            chosen = ids[:, -1].tolist() if ids.shape[1] else [pad_id] * rows
            for row in sorted(live):
                token = _pick(logits[row], temperature, top_p, generators[row])
                chosen[row] = token
                if token in stops:
                    finish[row] = "stop"
                    live.discard(row)
                    if keep_stop:
                        out[row].append(token)
                    continue
                out[row].append(token)
                if on_token is not None:
                    on_token(row, out[row])
                if until is not None and until(row, out[row]):
                    finish[row] = "stop"
                    live.discard(row)
            if not live:
                break
            ids = torch.tensor(chosen, dtype=torch.long, device=device)[:, None]
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
    return [(tokens, reason) for tokens, reason in zip(out, finish)]


class _Stream:
    """Incremental text per prompt: the new suffix of the decoded ids, minus an unfinished character."""

    def __init__(self, tokenizer, emit: Callable[[int, str], None]):
        self.tokenizer, self.emit, self.sent = tokenizer, emit, {}

    def __call__(self, index: int, ids: list[int], final: bool = False) -> None:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd") and not final:
            return  # a multi-byte character split across tokens: wait for the rest
        sent = self.sent.get(index, "")
        if len(text) > len(sent) and text.startswith(sent):
            self.emit(index, text[len(sent) :])
            self.sent[index] = text


def _check_inputs(command: dict) -> tuple[Path, Path | None]:
    model_dir = modeling.check_model_dir(command["model_path"], "base model")
    tuned, kind = command["tuned_path"], command["tuned_kind"]
    if "tuned" in command["sides"] and tuned is None:
        raise WorkerError("GENERATE_INVALID", "sides includes 'tuned' but no tuned_path was given",
                          "Pass the run's outputs/adapter (tuned_kind adapter) or outputs/model (tuned_kind model).")
    if tuned is None:
        return model_dir, None
    if kind is None:
        raise WorkerError("GENERATE_INVALID", "tuned_path is set but tuned_kind is null", "Say whether it is an 'adapter' or a 'model'.")
    marker = "adapter_config.json" if kind == "adapter" else "config.json"
    if not (Path(tuned) / marker).is_file():
        raise WorkerError("MODEL_NOT_FOUND", f"No {kind} at {tuned}: {marker} is missing",
                          f"Point tuned_path at a run's outputs/{kind} folder (or a checkpoint's adapter folder).")
    return model_dir, Path(tuned)


def run(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> dict:
    return Generation(job_id, command, emitter, cancelled).run()


class Generation:
    """One generate command: check → tokenize prompts → decode each requested side → result."""

    def __init__(self, job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.cmd, self.emitter, self.cancelled = job_id, command, emitter, cancelled
        self.t0 = time.monotonic()
        self.device, self.dtype = inference_device()
        self.done = 0
        self.decode_s = 0.0

    def progress(self, phase: str, current: int, total: int | None, unit: str, message: str, eta: float | None = None) -> None:
        self.emitter.progress(self.id, self.t0, phase, current, total, unit, message, eta)

    def run(self) -> dict:
        cmd = self.cmd
        model_dir, tuned = _check_inputs(cmd)
        self.tokenizer = modeling.load_tokenizer(model_dir, trust_remote_code=False)
        if not getattr(self.tokenizer, "chat_template", None):
            raise WorkerError("TEMPLATE_MISSING", f"The tokenizer of {model_dir} has no chat template, so prompts cannot be rendered.",
                              "Use a chat/instruct model (one whose tokenizer_config.json or chat_template.jinja has a template).")
        self.prompts = [self.tokenizer(render(self.tokenizer, m, add_generation_prompt=True), add_special_tokens=False)["input_ids"]
                        for m in cmd["prompts"]]
        sides = [s for s in SIDES if s in cmd["sides"]]
        self.total = len(self.prompts) * len(sides)
        outputs: dict[str, list[dict]] = {}
        if tuned is None or cmd["tuned_kind"] == "adapter":
            model = self.load(model_dir, tuned)
            for side in sides:
                off = side == "base" and tuned is not None
                outputs[side] = self.decode(model, side, model.disable_adapter if off else contextlib.nullcontext)
        else:  # a full fine-tune: one model in memory at a time
            for side in sides:
                model = self.load(tuned if side == "tuned" else model_dir, None)
                outputs[side] = self.decode(model, side, contextlib.nullcontext)
                del model
                _free(self.device)
        return {
            "count": len(self.prompts),
            "settings": {"max_new_tokens": cmd["max_new_tokens"], "temperature": cmd["temperature"], "top_p": cmd["top_p"],
                         "seed": cmd["seed"], "decoding": "sampling" if cmd["temperature"] > 0 else "greedy",
                         "stop_tokens": [self.tokenizer.convert_ids_to_tokens(i) for i in self.stops],
                         "model_path": str(model_dir), "tuned_path": None if tuned is None else str(tuned), "tuned_kind": cmd["tuned_kind"],
                         "device": self.device.type, "dtype": str(self.dtype).removeprefix("torch.")},
            "outputs": outputs,
            "timing": {"decode_s": round(self.decode_s, 3), "total_s": round(time.monotonic() - self.t0, 3)},
        }

    def load(self, path: Path, adapter: Path | None):
        self.progress("load", 0, 1, "model", f"Loading {path}" + (f" with the adapter {adapter}" if adapter else ""))
        model = modeling.load_model(path, self.dtype, False, self.device).eval()
        if adapter is not None:
            model = attach_adapter(model, adapter)
        self.stops = stop_token_ids(self.tokenizer, model)
        self.progress("load", 1, 1, "model", "Model ready")
        return model

    def decode(self, model, side: str, context) -> list[dict]:
        cmd, prompts = self.cmd, self.prompts
        order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
        max_rows, budget = MAX_BATCH.get(self.device.type, 8), BATCH_TOKENS.get(self.device.type, 4096)
        results: list[dict | None] = [None] * len(prompts)
        stream = _Stream(self.tokenizer, lambda i, text: self.emitter.emit("token", id=self.id, index=i, side=side, text=text)) if cmd["stream"] else None
        start, tick = 0, time.monotonic()
        while start < len(order):
            if self.cancelled():
                raise Cancelled
            width = len(prompts[order[start]]) + cmd["max_new_tokens"]
            chunk = order[start : start + max(1, min(max_rows, budget // width))]
            on_token = (lambda row, ids, chunk=chunk: stream(chunk[row], ids)) if stream else None
            try:
                with context():
                    decoded = decode_batch(model, [prompts[i] for i in chunk], [cmd["seed"] + i for i in chunk], cmd["max_new_tokens"],
                                           cmd["temperature"], cmd["top_p"], set(self.stops), modeling.pad_id(self.tokenizer), on_token)
            except torch.OutOfMemoryError:
                decoded = None
            if decoded is None:
                if len(chunk) == 1:
                    raise WorkerError("OUT_OF_MEMORY", f"Out of {self.device.type} memory generating for one {len(prompts[chunk[0]])}-token prompt.",
                                      "Lower max_new_tokens, use shorter prompts, or close other programs that use the GPU.", recoverable=True)
                max_rows = len(chunk) // 2
                _free(self.device)
                continue
            for i, (ids, finish) in zip(chunk, decoded):
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                results[i] = {"text": text, "tokens": len(ids), "finish": finish}
                if stream:
                    stream(i, ids, final=True)
                self.emitter.emit("generation", id=self.id, index=i, side=side, text=text, tokens=len(ids), finish=finish)
            start += len(chunk)
            self.done += len(chunk)
            elapsed = self.decode_s + time.monotonic() - tick
            self.progress("generate", self.done, self.total, "answers", f"{side.capitalize()} model: {start} of {len(prompts)} prompts",
                          (self.total - self.done) * elapsed / self.done)
        self.decode_s += time.monotonic() - tick
        return [r for r in results if r is not None]


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
