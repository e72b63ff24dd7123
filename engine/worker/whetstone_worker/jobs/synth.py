"""The `synth` command: write new prompts from raw text prefixes, then answer them (data synthesis, issue #18).

The engine decides what to ask (engine/synth/): for Magpie (arXiv 2406.08464) a candidate's prefix is
null, meaning the model's *pre-query template*, the text its chat template renders before a user's
message starts (`<|im_start|>user\\n`): an aligned model continues it with a user instruction and
ends the turn with its end-of-turn token. For few-shot synthesis (ALMA) the prefix is the engine's
list of example requests, and the prompt ends at a stop text (the next example's header). For GLAN
the prefix is a user message (draft an instruction on a topic) rendered through the chat template,
and the model's reply is the prompt. A candidate of kind `prompt` brings its prompt and is only
answered: how other models and runs answer the prompts one model wrote (response selection). Each
prompt is then answered through the chat template, like `generate`, once per entry of `responses`
(a temperature and a seed offset each). Filtering, deduplication and
what gets written are the engine's: this job only generates, so the rules live in one place.

The pre-query template is found by rendering a conversation whose user message is a sentinel and
cutting at the sentinel. A model without a chat template, or a template that does not show the
user's text verbatim (the sentinel is not found), is refused with what to use instead.

Determinism: candidate i samples its prompt with seed + i and its answers with seed + i + each
response's seed offset (2^31 for the first), each with its own generator (decode_batch), so a candidate's text depends neither on batching nor on
which candidates came before it; a rerun that starts at candidate 40 writes what the first run would
have. Candidates are decoded in index order, in batches of one temperature, and a `candidate` event
is sent for each in index order, so the engine can append rows as they come. Empty prompts are not
answered, nor are prompts cut at the token limit unless `answer_truncated` (the engine drops them);
their event has no response.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch

from .. import modeling
from ..data.chat import render
from ..device import inference_device
from ..errors import Cancelled, WorkerError
from ..protocol import Emitter
from .generate import BATCH_TOKENS, MAX_BATCH, _free, attach_adapter, decode_batch, stop_token_ids

SENTINEL = "\u2063WHETSTONE_SYNTH_SENTINEL\u2063"


def pre_query_prefix(tokenizer, where: str) -> str:
    """The text the chat template renders before the first user message's content (Magpie's pre-query template)."""
    if not getattr(tokenizer, "chat_template", None):
        raise WorkerError("TEMPLATE_MISSING", f"The tokenizer of {where} has no chat template, so Magpie has no pre-query template to start from.",
                          "Use a chat/instruct model (one whose tokenizer_config.json or chat_template.jinja has a template), or --method fewshot with a seed file.")
    text = render(tokenizer, [{"role": "user", "content": SENTINEL}], add_generation_prompt=False)
    cut = text.find(SENTINEL)
    if cut <= 0:
        raise WorkerError("SYNTH_TEMPLATE_UNSUPPORTED",
                          f"The chat template of {where} does not render the user's text after a fixed header"
                          + (" (the user's text comes first)" if cut == 0 else " (the user's text does not appear verbatim)") + ", so it has no pre-query template.",
                          "Use a model whose template marks the user turn (ChatML, Llama 3, Gemma…), or --method fewshot with a seed file.")
    return text[:cut]


def run(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> dict:
    return Synthesis(job_id, command, emitter, cancelled).run()


class Synthesis:
    """One synth command: check → tokenizer and prefixes → load → prompts then answers, batch by batch → result."""

    def __init__(self, job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.cmd, self.emitter, self.cancelled = job_id, command, emitter, cancelled
        self.t0 = time.monotonic()
        self.device, self.dtype = inference_device()

    def progress(self, phase: str, current: int, total: int | None, unit: str, message: str, eta: float | None = None) -> None:
        self.emitter.progress(self.id, self.t0, phase, current, total, unit, message, eta)

    def run(self) -> dict:
        cmd = self.cmd
        model_dir = modeling.check_model_dir(cmd["model_path"], "model")
        tuned = self._tuned()
        self.tokenizer = modeling.load_tokenizer(model_dir, trust_remote_code=False)
        magpie = any(c["kind"] == "raw" and c["prefix"] is None for c in cmd["candidates"])
        self.pre_query = pre_query_prefix(self.tokenizer, str(model_dir)) if magpie else None
        chat = cmd["response_tokens"] > 0 or any(c["kind"] == "chat" for c in cmd["candidates"])
        if chat and not getattr(self.tokenizer, "chat_template", None):
            raise WorkerError("TEMPLATE_MISSING", f"The tokenizer of {model_dir} has no chat template, so the prompts cannot be drafted or answered in its chat format.",
                              "Use a chat/instruct model, or ask for prompts only (response_tokens 0) with magpie or fewshot.")
        self.progress("load", 0, 1, "model", f"Loading {model_dir}" + (f" with the adapter {tuned}" if tuned else ""))
        model = modeling.load_model(tuned if cmd["tuned_kind"] == "model" else model_dir, self.dtype, False, self.device).eval()
        if tuned is not None and cmd["tuned_kind"] == "adapter":
            model = attach_adapter(model, tuned)
        self.model, self.stops, self.pad = model, set(stop_token_ids(self.tokenizer, model)), modeling.pad_id(self.tokenizer)
        self.progress("load", 1, 1, "model", "Model ready")
        candidates = cmd["candidates"]
        rows = MAX_BATCH.get(self.device.type, 8)
        done, tick, counts = 0, time.monotonic(), {"answered": 0, "unanswered": 0}
        while done < len(candidates):
            if self.cancelled():
                raise Cancelled
            chunk = candidates[done : done + rows]
            prompts = self._prompts(chunk)
            usable = [i for i, (text, finish, _) in enumerate(prompts) if text.strip() and (finish == "stop" or cmd["answer_truncated"])]
            answers = dict(zip(usable, self._answers([chunk[i] for i in usable], [prompts[i][0] for i in usable]))) if cmd["response_tokens"] > 0 else {}
            for i, (candidate, (text, finish, tokens)) in enumerate(zip(chunk, prompts)):
                responses = answers.get(i, [])
                answer = responses[0] if responses else None
                self.emitter.emit("candidate", id=self.id, index=candidate["index"], prompt=text, prompt_finish=finish, prompt_tokens=tokens,
                                  response=answer[0] if answer else None, response_finish=answer[1] if answer else None,
                                  response_tokens=answer[2] if answer else 0,
                                  responses=[{"text": t, "finish": f, "tokens": n} for t, f, n in responses])
                counts["answered" if answer else "unanswered"] += 1
            done += len(chunk)
            elapsed = time.monotonic() - tick
            self.progress("synth", done, len(candidates), "candidates", f"{done} of {len(candidates)} candidates", (len(candidates) - done) * elapsed / done)
        return {"count": len(candidates), **counts, "pre_query": self.pre_query,
                "settings": {"model_path": str(model_dir), "tuned_path": None if tuned is None else str(tuned), "tuned_kind": cmd["tuned_kind"],
                             "device": self.device.type, "dtype": str(self.dtype).removeprefix("torch.")},
                "timing": {"total_s": round(time.monotonic() - self.t0, 3)}}

    def _tuned(self) -> Path | None:
        tuned, kind = self.cmd["tuned_path"], self.cmd["tuned_kind"]
        if tuned is None:
            return None
        marker = "adapter_config.json" if kind == "adapter" else "config.json"
        if kind is None or not (Path(tuned) / marker).is_file():
            raise WorkerError("MODEL_NOT_FOUND", f"No {kind or 'adapter or model'} at {tuned}" + (f": {marker} is missing" if kind else ": tuned_kind is null"),
                              "Point tuned_path at a run's outputs/adapter (tuned_kind adapter) or outputs/model (tuned_kind model).")
        return Path(tuned)

    def _prompts(self, chunk: list[dict]) -> list[tuple[str, str, int]]:
        """(prompt text, finish, tokens) per candidate: the prefix continued (raw, or a user message through the chat
        template), cut at the first stop text; a given prompt as it is."""
        stop_texts = self.cmd["stop_texts"]
        out: list[tuple[str, str, int] | None] = [(c["prefix"].strip(), "stop", 0) if c["kind"] == "prompt" else None for c in chunk]
        todo = [c for c in chunk if c["kind"] != "prompt"]
        if not todo:
            return out  # type: ignore[return-value]
        ids = [self.tokenizer(self._prefix_text(c), add_special_tokens=False)["input_ids"] for c in todo]
        until = None
        if stop_texts:
            # Decoding only the last tokens keeps the check cheap; 16 tokens hold any stop text we send.
            until = lambda row, out: any(s in self.tokenizer.decode(out[-16:], skip_special_tokens=True) for s in stop_texts)  # noqa: E731
        decoded = iter(self._decode(ids, [self.cmd["seed"] + c["index"] for c in todo], [c["temperature"] for c in todo], self.cmd["prompt_tokens"], until))
        for k, slot in enumerate(out):
            if slot is not None:
                continue
            tokens, finish = next(decoded)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            cuts = [text.find(s) for s in stop_texts if s in text]
            if cuts:
                text, finish = text[: min(cuts)], "stop"
            out[k] = (text.strip(), finish, len(tokens))
        return out  # type: ignore[return-value]

    def _prefix_text(self, candidate: dict) -> str:
        if candidate["kind"] == "chat":
            return render(self.tokenizer, [{"role": "user", "content": candidate["prefix"]}], add_generation_prompt=True)
        return self.pre_query if candidate["prefix"] is None else candidate["prefix"]

    def _answers(self, chunk: list[dict], prompts: list[str]) -> list[list[tuple[str, str, int]]]:
        """Per candidate, one (answer, finish, tokens) for each of the command's responses."""
        if not chunk:
            return []
        cmd = self.cmd
        ids = [self.tokenizer(render(self.tokenizer, [{"role": "user", "content": p}], add_generation_prompt=True), add_special_tokens=False)["input_ids"] for p in prompts]
        per_candidate: list[list[tuple[str, str, int]]] = [[] for _ in chunk]
        for spec in cmd["responses"]:
            seeds = [cmd["seed"] + c["index"] + spec["seed_offset"] for c in chunk]
            decoded = self._decode(ids, seeds, [spec["temperature"]] * len(chunk), cmd["response_tokens"], None)
            for answers, (tokens, finish) in zip(per_candidate, decoded):
                answers.append((self.tokenizer.decode(tokens, skip_special_tokens=True).strip(), finish, len(tokens)))
        return per_candidate

    def _decode(self, ids: list[list[int]], seeds: list[int], temperatures: list[float], new_tokens: int, until) -> list[tuple[list[int], str]]:
        """decode_batch over rows of one temperature at a time, within the device's token budget; a batch out of memory is halved."""
        results: list[tuple[list[int], str] | None] = [None] * len(ids)
        budget = BATCH_TOKENS.get(self.device.type, 4096)
        for temperature in sorted(set(temperatures)):
            pending = [i for i, t in enumerate(temperatures) if t == temperature]
            limit = len(pending)
            while pending:
                width = max(len(ids[i]) for i in pending[:limit]) + new_tokens
                batch = pending[: max(1, min(limit, budget // width))]
                try:
                    decoded = decode_batch(self.model, [ids[i] for i in batch], [seeds[i] for i in batch], new_tokens, temperature,
                                           self.cmd["top_p"], self.stops, self.pad, until=until)
                except torch.OutOfMemoryError:
                    if len(batch) == 1:
                        raise WorkerError("OUT_OF_MEMORY", f"Out of {self.device.type} memory generating for one {len(ids[batch[0]])}-token prefix.",
                                          "Lower the token limits (--max-tokens, --prompt-tokens), use fewer or shorter seed examples (--k), or close other programs that use the GPU.",
                                          recoverable=True)
                    limit = len(batch) // 2
                    _free(self.device)
                    continue
                for i, result in zip(batch, decoded):
                    results[i] = result
                pending = pending[len(batch) :]
        return [r for r in results if r is not None]

