"""The `audit` command: does the tuned model reproduce its training answers, compared with the base?

For `samples` conversations drawn with a seeded RNG from the run's data snapshot (all of them if
there are fewer), take the LAST assistant answer. The prompt is exactly what training saw before
that answer (data/chat.py's prefix-diff segments, each tokenized on its own, so the ids match the
trained ids) plus the first `prefix_tokens` answer tokens, but never more than half the answer (chat
answers are often shorter than the 32 + 64 tokens sized for long documents, and a prefix that eats
the whole answer leaves nothing to extract); the target is the next `continuation_tokens` answer
tokens, or what remains. An answer with fewer than MIN_CONTINUATION tokens left after its prefix is
skipped and counted (an exact match of two tokens says little), as are conversations without an
assistant answer and prompts too long for the model. The answer's tokens include the template's end-of-turn token: it was trained too.

Both models greedily decode exactly len(target) tokens (no stop at end-of-turn, so every
continuation is compared at full length) and are scored per sample:
- exact match: the generated ids equal the target ids over the whole continuation (Carlini et al.'s
  "extractable" test, the strictest);
- LCS ratio: longest common subsequence of the token ids / target length, crediting near copies with
  a token swapped, dropped or inserted;
- semantic similarity: cosine of sentence embeddings of the generated and the target text
  (embeddings.py: MiniLM when available, else the base model), crediting paraphrases; embedding
  similarity finds about 10x more regurgitated training data than string matching.
The tuned-minus-base difference is what the fine-tune memorized: the base scores show how guessable
the continuations were to begin with.

Memory: an adapter is attached to the one base model and the base pass runs inside
`disable_adapter()` (no second copy of the weights). A full model is never loaded beside the base:
the tuned folder is decoded first and freed, then the base is loaded, so the base is still in memory
when it is also the fallback embedder (base first would need a third load).

Speed: prompts are sorted by length and decoded in left-padded batches with a KV cache
(generate.greedy_batch) of at most MAX_BATCH rows and BATCH_TOKENS rows x (longest prompt +
continuation) tokens; base and tuned use the same batches. On CUDA that is 64 rows / 32k tokens: the
KV cache is 16 GiB for Llama-2-7B in bf16 (0.5 MiB a token, no GQA), 4 GiB for Llama-3-8B. A 7B audit
of 200 samples with 32 + 64 tokens and prompts of a few hundred tokens is 4 batches x 64 steps x 2
models, about 500 forward passes of a few tens of ms, plus prefill and two loads: one to three minutes
on one GPU. An out-of-memory batch is retried at half the rows (down to one). Decoding is
deterministic for a given machine: the same batches, argmax taking the first index on ties.

Cancel is checked between batches and ends with `done` cancelled and no report: a partial report
would compare different samples for base and tuned.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from jinja2 import TemplateError

from .. import embeddings, modeling
from ..data.chat import TemplateMismatch, read_conversations, render, render_segments, tokenize_segments
from ..device import inference_device
from ..errors import Cancelled, WorkerError
from .generate import BATCH_TOKENS, MAX_BATCH, attach_adapter, greedy_batch
from ..protocol import Emitter

MIN_CONTINUATION = 4  # tokens left to reproduce after the prefix, at least
PREVIEW_CHARS = 200  # prompt preview in per-sample rows
TEXT_CHARS = 1000  # each text in per-sample rows (the scores use the whole text)
MAX_ROWS = 2000  # per-sample rows in the report; the scores cover every sample


# ------------------------------------------------------------------------------------- metrics


def lcs_length_dp(a: list[int], b: list[int]) -> int:
    """Longest common subsequence length by the textbook O(len(a)·len(b)) DP (the definition)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def lcs_length(a: list[int], b: list[int]) -> int:
    """The same number, bit-parallel (Allison-Dix/Hyyrö): one big-int step per token of b.

    A 4096-token continuation costs 4096 big-int operations instead of 16.7M Python steps. Bit i of
    `v` is 0 where the LCS of a[:i+1] and the b read so far grew; the zero count is the LCS length.
    """
    if not a or not b:
        return 0
    positions: dict[int, int] = {}
    for i, x in enumerate(a):
        positions[x] = positions.get(x, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for y in b:
        u = v & positions.get(y, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def lcs_ratio(generated: list[int], target: list[int]) -> float:
    return lcs_length(generated, target) / len(target) if target else 0.0


# ---------------------------------------------------------------------------------------- data


@dataclass
class Probe:
    line: int  # 1-based line in the data file
    prompt: list[int]  # prompt + prefix token ids
    target: list[int]  # the answer tokens to reproduce
    preview: str
    prefix_text: str
    target_text: str


def draw(path: Path, samples: int, seed: int) -> tuple[int, list[tuple[int, list[dict]]]]:
    """(conversations in the file, the `samples` drawn with Random(seed), in file order)."""
    with path.open("rb") as f:
        available = sum(1 for raw in f if raw.strip())
    chosen = set(random.Random(seed).sample(range(available), min(samples, available)))
    picked: list[tuple[int, list[dict]]] = []
    for index, (line, messages) in enumerate(read_conversations(path)):
        if index in chosen:
            picked.append((line, messages))
            if len(picked) == len(chosen):
                break
    return available, picked


def make_probe(tokenizer, line: int, messages: list[dict], prefix_tokens: int, continuation_tokens: int,
               max_positions: int | None) -> Probe | str:
    """The probe for one conversation, or the reason it is skipped."""
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not answers:
        return "no_assistant_answer"
    last = answers[-1]
    try:
        segments = render_segments(tokenizer, messages[: last + 1])
        prefix_chars = len(render(tokenizer, messages[:last], add_generation_prompt=True))
    except (TemplateMismatch, TemplateError):
        return "template_error"
    # The answer is the trained segment that starts where the generation prompt ends.
    start, k = 0, None
    for index, (text, trained) in enumerate(segments):
        if start == prefix_chars and trained:
            k = index
            break
        start += len(text)
    if k is None:
        return "template_error"
    prompt = tokenize_segments(tokenizer, segments[:k])[0].tolist()
    answer = tokenize_segments(tokenizer, segments[k : k + 1])[0].tolist()
    prefix_tokens = min(prefix_tokens, len(answer) // 2)
    if len(answer) - prefix_tokens < min(MIN_CONTINUATION, continuation_tokens):
        return "answer_too_short"
    prompt += answer[:prefix_tokens]
    target = answer[prefix_tokens : prefix_tokens + continuation_tokens]
    if not prompt:
        return "empty_prompt"
    if max_positions is not None and len(prompt) + len(target) > max_positions:
        return "too_long_for_model"
    before = messages[last - 1] if last > 0 else None
    preview = f"{before['role']}: {before['content']}" if before else ""
    return Probe(line, prompt, target, _shorten(preview, PREVIEW_CHARS), _text(tokenizer, answer[:prefix_tokens]),
                 _text(tokenizer, target))


def _text(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _max_positions(model_dir: Path) -> int | None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(model_dir))
    except (OSError, ValueError, KeyError):
        return None  # load_model names the problem
    value = getattr(config.get_text_config(), "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


# -------------------------------------------------------------------------------------- decoding


class Decoder:
    """Greedy continuations for every probe, in length-sorted batches that halve on out-of-memory."""

    def __init__(self, probes: list[Probe], device: torch.device, pad_id: int, report: Callable[[int, str], None],
                 cancelled: Callable[[], bool]):
        self.probes, self.device, self.pad_id, self.report, self.cancelled = probes, device, pad_id, report, cancelled
        self.order = sorted(range(len(probes)), key=lambda i: (-len(probes[i].prompt), i))
        self.max_rows = MAX_BATCH.get(device.type, 8)
        self.budget = BATCH_TOKENS.get(device.type, 4096)

    def decode(self, model, label: str, context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.probes]
        start = 0
        while start < len(self.order):
            if self.cancelled():
                raise Cancelled
            longest = len(self.probes[self.order[start]].prompt)  # sorted: the first row is the longest
            width = longest + max(len(p.target) for p in self.probes)
            chunk = self.order[start : start + max(1, min(self.max_rows, self.budget // width))]
            new = max(len(self.probes[i].target) for i in chunk)
            try:
                with context():
                    generated = greedy_batch(model, [self.probes[i].prompt for i in chunk], new, self.pad_id)
            except torch.OutOfMemoryError:
                generated = None  # handled below, once the failed batch's tensors are out of scope
            if generated is None:
                if len(chunk) == 1:
                    raise WorkerError(
                        "OUT_OF_MEMORY",
                        f"Out of {self.device.type} memory decoding one {longest}-token prompt for the {label} model.",
                        "Lower continuation_tokens or prefix_tokens, close other programs that use the GPU, "
                        "or audit on a machine with more GPU memory.",
                        recoverable=True,
                    )
                self.max_rows = len(chunk) // 2
                _free_cache(self.device)
                continue
            for i, ids in zip(chunk, generated):
                out[i] = ids[: len(self.probes[i].target)]
            start += len(chunk)
            self.report(len(chunk), label)
        return out


def _free_cache(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------- command


def _check_inputs(command: dict) -> tuple[Path, Path, Path]:
    model_dir = modeling.check_model_dir(command["model_path"])
    tuned = Path(command["tuned_path"])
    if command["tuned_kind"] == "adapter" and not (tuned / "adapter_config.json").is_file():
        raise WorkerError("MODEL_NOT_FOUND", f"No adapter at {tuned}: adapter_config.json is missing",
                          "Point tuned_path at the run's outputs/adapter folder.")
    if command["tuned_kind"] == "model" and not (tuned / "config.json").is_file():
        raise WorkerError("MODEL_NOT_FOUND", f"No tuned model at {tuned}: config.json is missing",
                          "Point tuned_path at the run's outputs/model folder.")
    data = Path(command["data_path"])
    if not data.is_file():
        raise WorkerError("DATA_NOT_FOUND", f"Audit data not found: {data}",
                          "Audit with the run's data snapshot (data/train.jsonl in the run folder).", recoverable=True)
    return model_dir, tuned, data


def run(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> dict:
    return Audit(job_id, command, emitter, cancelled).run()


class Audit:
    """One audit: setup (checks, probes, embedder) → decode base and tuned → embed → report."""

    def __init__(self, job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.cmd, self.emitter, self.cancelled = job_id, command, emitter, cancelled
        self.t0 = time.monotonic()
        self.timing = {"load_s": 0.0, "decode_base_s": 0.0, "decode_tuned_s": 0.0, "embed_s": 0.0}
        self.device, self.dtype = inference_device()

    def progress(self, phase: str, current: float, total: float | None, unit: str, message: str, eta: float | None = None) -> None:
        self.emitter.progress(self.id, self.t0, phase, current, total, unit, message, eta)

    def run(self) -> dict:
        cmd = self.cmd
        self.model_dir, self.tuned_dir, self.data = _check_inputs(cmd)
        self.embedder_info = embeddings.choose(cmd["embedding_model"])  # a bad folder fails before any decoding
        self.tokenizer = modeling.load_tokenizer(self.model_dir, trust_remote_code=False)
        if not getattr(self.tokenizer, "chat_template", None):
            raise WorkerError("TEMPLATE_MISSING", "The base model's tokenizer has no chat template, so prompts cannot be rendered.",
                              "Audit with the run's base model (a chat/instruct model with a chat template).")
        self.probes, self.counts = self.prepare()
        if self.cancelled():
            raise Cancelled
        encoder = None
        if self.embedder_info["kind"] == "sentence-encoder":
            with self.timed("load_s"):
                self.progress("load", 0, 1, "model", f"Loading the embedding model {self.embedder_info['name']}")
                encoder = embeddings.EncoderEmbedder(self.embedder_info["path"], self.device)
        base_out, tuned_out, model, base_context = self.decode_both()
        if encoder is not None:
            model = None  # the base model is not the embedder: free it first
            _free_cache(self.device)
        if self.cancelled():
            raise Cancelled
        total = 2 * len(self.probes)
        self.progress("audit", total, total, "samples", f"Scoring semantic similarity with {self.embedder_info['name']}", 0)
        with self.timed("embed_s"):
            embedder = encoder or embeddings.BaseModelEmbedder(model, self.tokenizer, modeling.pad_id(self.tokenizer), base_context)
            texts = {"base": [_text(self.tokenizer, ids) for ids in base_out], "tuned": [_text(self.tokenizer, ids) for ids in tuned_out]}
            targets = [p.target_text for p in self.probes]
            sims = embeddings.similarities(embedder, list(zip(texts["base"], targets)) + list(zip(texts["tuned"], targets)))
        del embedder, encoder, model
        _free_cache(self.device)
        n = len(self.probes)
        per = {"base": _per_sample(self.probes, base_out, sims[:n]), "tuned": _per_sample(self.probes, tuned_out, sims[n:])}
        return self.report(texts, per)

    @contextlib.contextmanager
    def timed(self, key: str):
        tick = time.monotonic()
        try:
            yield
        finally:
            self.timing[key] += time.monotonic() - tick

    def prepare(self) -> tuple[list[Probe], dict]:
        cmd, data = self.cmd, self.data
        self.progress("data", 0, None, "samples", f"Drawing {cmd['samples']} conversations from {data}")
        available, picked = draw(data, cmd["samples"], cmd["seed"])
        max_positions = _max_positions(self.model_dir)
        probes: list[Probe] = []
        skipped: dict[str, int] = {}
        for line, messages in picked:
            probe = make_probe(self.tokenizer, line, messages, cmd["prefix_tokens"], cmd["continuation_tokens"], max_positions)
            if isinstance(probe, Probe):
                probes.append(probe)
            else:
                skipped[probe] = skipped.get(probe, 0) + 1
        reasons = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(skipped.items()))
        self.progress("data", len(picked), len(picked), "samples",
                      f"{len(probes)} samples to audit, {sum(skipped.values())} skipped" + (f" ({reasons})" if reasons else ""), 0)
        if not probes:
            raise WorkerError(
                "DATA_EMPTY",
                f"No sample of {data} can be audited: {len(picked)} drawn, all skipped ({reasons or 'the file is empty'}).",
                "Lower prefix_tokens or continuation_tokens: an answer needs more than prefix_tokens + "
                "continuation_tokens / 4 tokens.",
            )
        counts = {"available": available, "requested": cmd["samples"], "drawn": len(picked), "used": len(probes),
                  "skipped": sum(skipped.values()), "skipped_reasons": skipped}
        return probes, counts

    def load(self, path: Path, what: str, adapter: Path | None = None):
        with self.timed("load_s"):
            self.progress("load", 0, 1, "model", f"Loading the {what} from {path}" + (f" with the adapter {adapter}" if adapter else ""))
            model = modeling.load_model(path, self.dtype, False, self.device).eval()
            if adapter is not None:
                model = attach_adapter(model, adapter)
            self.progress("load", 1, 1, "model", f"Loaded the {what}")
        return model

    def decode_both(self):
        """(base ids, tuned ids, a model that is the base inside base_context, base_context)."""
        probes, total, t = self.probes, 2 * len(self.probes), self.timing
        done, pass_start = [0], [0.0]

        def decoded(rows: int, label: str) -> None:
            done[0] += rows
            elapsed = t["decode_base_s"] + t["decode_tuned_s"] + time.monotonic() - pass_start[0]  # decoding only, not loads
            this_pass = done[0] - len(probes) if done[0] > len(probes) else done[0]
            self.progress("audit", done[0], total, "samples", f"{label.capitalize()} model: {this_pass} of {len(probes)} samples",
                          (total - done[0]) * elapsed / done[0])

        decoder = Decoder(probes, self.device, modeling.pad_id(self.tokenizer), decoded, self.cancelled)

        def decode(model, label: str, context=contextlib.nullcontext) -> list[list[int]]:
            pass_start[0] = time.monotonic()
            with self.timed(f"decode_{label}_s"):
                return decoder.decode(model, label, context)

        if self.cmd["tuned_kind"] == "adapter":
            model = self.load(self.model_dir, "base model", adapter=self.tuned_dir)
            base = decode(model, "base", model.disable_adapter)
            return base, decode(model, "tuned"), model, model.disable_adapter
        model = self.load(self.tuned_dir, "tuned model")
        tuned = decode(model, "tuned")
        del model
        _free_cache(self.device)
        model = self.load(self.model_dir, "base model")
        return decode(model, "base"), tuned, model, contextlib.nullcontext

    def report(self, texts: dict[str, list[str]], per: dict[str, dict[str, list]]) -> dict:
        """The `done` result (engine/audit/audit.ts reads base, tuned, counts, settings, embedder):

        settings   the command's numbers, min_continuation_tokens, paths, device, dtype, decoding
        embedder   name, kind (sentence-encoder | base-model), reason, path
        counts     available, requested, drawn, used, skipped, skipped_reasons {reason: n}
        base/tuned exact_match_rate, exact_matches, lcs_ratio_mean, semantic_similarity_mean
        delta      tuned minus base of the three rates
        timing     load_s, decode_s, decode_base_s, decode_tuned_s, decoded_tokens, decode_tokens_per_s,
                   embed_s, total_s
        per_sample [{line, prompt_preview, prefix_text, target_text, target_tokens,
                     base: {text, exact, lcs_ratio, similarity}, tuned: {...}}], data order, at most
                   MAX_ROWS rows (per_sample_truncated says so), texts cut at TEXT_CHARS
        """
        cmd, probes, t = self.cmd, self.probes, self.timing
        rows = []
        for i, p in enumerate(probes[:MAX_ROWS]):
            row = {"line": p.line, "prompt_preview": p.preview, "prefix_text": _shorten(p.prefix_text, TEXT_CHARS),
                   "target_text": _shorten(p.target_text, TEXT_CHARS), "target_tokens": len(p.target)}
            for label in ("base", "tuned"):
                row[label] = {"text": _shorten(texts[label][i], TEXT_CHARS), "exact": per[label]["exact"][i],
                              "lcs_ratio": round(per[label]["lcs"][i], 4), "similarity": round(per[label]["sim"][i], 4)}
            rows.append(row)
        summary = {label: _summary(per[label]) for label in ("base", "tuned")}
        decode_s = t["decode_base_s"] + t["decode_tuned_s"]
        decoded_tokens = 2 * sum(len(p.target) for p in probes)
        return {
            "settings": {
                "samples": cmd["samples"], "prefix_tokens": cmd["prefix_tokens"], "continuation_tokens": cmd["continuation_tokens"],
                "min_continuation_tokens": min(MIN_CONTINUATION, cmd["continuation_tokens"]),
                "prefix_rule": "min(prefix_tokens, half the answer)", "seed": cmd["seed"],
                "tuned_kind": cmd["tuned_kind"], "model_path": str(self.model_dir), "tuned_path": str(self.tuned_dir),
                "data_path": str(self.data), "device": self.device.type, "dtype": str(self.dtype).removeprefix("torch."),
                "decoding": "greedy, no stop at end-of-turn",
            },
            "embedder": {k: self.embedder_info[k] for k in ("name", "kind", "reason", "path")},
            "counts": self.counts,
            "base": summary["base"],
            "tuned": summary["tuned"],
            "delta": {k: round(summary["tuned"][k] - summary["base"][k], 6)
                      for k in ("exact_match_rate", "lcs_ratio_mean", "semantic_similarity_mean")},
            "timing": {
                "load_s": round(t["load_s"], 3),
                "decode_s": round(decode_s, 3),
                "decode_base_s": round(t["decode_base_s"], 3),
                "decode_tuned_s": round(t["decode_tuned_s"], 3),
                "decoded_tokens": decoded_tokens,
                "decode_tokens_per_s": round(decoded_tokens / decode_s, 1) if decode_s > 0 else None,
                "embed_s": round(t["embed_s"], 3),
                "total_s": round(time.monotonic() - self.t0, 3),
            },
            "per_sample": rows,
            "per_sample_truncated": len(probes) > MAX_ROWS,
        }


def _per_sample(probes: list[Probe], generated: list[list[int]], sims: list[float]) -> dict[str, list]:
    return {"exact": [ids == p.target for p, ids in zip(probes, generated)],
            "lcs": [lcs_ratio(ids, p.target) for p, ids in zip(probes, generated)],
            "sim": sims}


def _summary(per: dict[str, list]) -> dict:
    n = len(per["exact"])
    return {"exact_match_rate": round(sum(per["exact"]) / n, 6), "exact_matches": sum(per["exact"]),
            "lcs_ratio_mean": round(sum(per["lcs"]) / n, 6), "semantic_similarity_mean": round(sum(per["sim"]) / n, 6)}
