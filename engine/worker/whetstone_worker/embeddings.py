"""Sentence embeddings for the audit's semantic score: which model embeds, and how.

Three sources, in this order:
1. `embedding_model` given: that local folder, a sentence-transformers-style (BERT-like) encoder
   loaded with transformers' AutoModel and its tokenizer (from the subfolder modules.json names, for
   older layouts). Pooling follows the folder's pooling config when it has one (CLS or mean), mean
   otherwise; vectors are L2-normalized.
   That is what sentence-transformers computes for all-MiniLM-L6-v2 (mean pooling + Normalize),
   without the dependency.
2. None given: sentence-transformers/all-MiniLM-L6-v2 when it is already in the local Hugging Face
   cache. MiniLM is small (22M parameters, 384 dimensions), fast on a CPU, and one of the most widely
   used models for semantic similarity, so its scores are comparable across runs and tools.
3. Otherwise: mean-pooled last hidden states (after the final norm) of the BASE model being audited.
   The worker never downloads, so this keeps the audit working offline; a causal LM's mean-pooled
   states are a weaker similarity signal than a trained sentence encoder (scores run high for any
   two fluent texts), so the report names the embedder and why it was chosen, and only
   comparisons made with the same embedder mean anything.

Why an embedding score at all: regurgitation is often a paraphrase, not a copy, and embedding
similarity finds about 10x more regurgitated training data than approximate string matching
("Extracting alignment data in open models"; /work/shared/ALGORITHMS.md).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable

import torch

from .errors import WorkerError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
HF_CACHE_DIR: str | None = None  # None: huggingface_hub's default (HF_HUB_CACHE); tests point it elsewhere
BATCH = 64  # texts per forward pass, and at most BATCH_TOKENS tokens (long texts on a 7B model)
BATCH_TOKENS = 16384
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def choose(embedding_model: str | None) -> dict:
    """Which embedder to use (name, kind, reason, path) without loading anything; errors come early."""
    if embedding_model is not None:
        folder = Path(embedding_model)
        if not (_layout(folder)[0] / "config.json").is_file():
            problem = "config.json is missing" if folder.is_dir() else "the folder does not exist"
            raise WorkerError(
                "MODEL_NOT_FOUND",
                f"No embedding model at {folder}: {problem}",
                "Point embedding_model at a local sentence-transformers model folder (e.g. a download of "
                f"{DEFAULT_MODEL}), or leave it empty to use the default.",
            )
        return {"name": str(folder), "kind": "sentence-encoder", "reason": "embedding_model was given", "path": str(folder)}
    cached = cached_default()
    if cached is not None:
        return {"name": DEFAULT_MODEL, "kind": "sentence-encoder", "path": cached,
                "reason": f"the default sentence encoder, found in the local Hugging Face cache ({cached})"}
    return {"name": "base model (mean-pooled last hidden states)", "kind": "base-model", "path": None,
            "reason": f"{DEFAULT_MODEL} is not in the local Hugging Face cache and the worker never downloads; "
                      "the base model's mean-pooled hidden states are a weaker similarity signal, so compare "
                      "these scores only with audits that used the same embedder"}


def cached_default() -> str | None:
    """The snapshot folder of the default model in the local HF cache, if config and weights are there."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(DEFAULT_MODEL, "config.json", cache_dir=HF_CACHE_DIR)
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    weights = (try_to_load_from_cache(DEFAULT_MODEL, name, cache_dir=HF_CACHE_DIR) for name in WEIGHT_FILES)
    has_tokenizer = (folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()
    return str(folder) if has_tokenizer and any(isinstance(w, str) for w in weights) else None


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


def normalize(vectors: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(vectors.float(), dim=-1)


class EncoderEmbedder:
    """A sentence-transformers-style encoder folder: AutoModel + tokenizer, pooled, L2-normalized."""

    def __init__(self, folder: str, device: torch.device):
        from transformers import AutoModel, AutoTokenizer

        self.device = device
        weights, pooling_dir = _layout(Path(folder))
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(weights))
            self.model = AutoModel.from_pretrained(str(weights), dtype=torch.float32).to(device).eval()
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise WorkerError(
                "MODEL_LOAD_FAILED",
                f"Cannot load the embedding model from {folder}: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}",
                "embedding_model must be a complete local encoder folder (config.json, weights, tokenizer files), "
                "such as a download of sentence-transformers/all-MiniLM-L6-v2.",
            ) from err
        pooling = _read_json(pooling_dir / "config.json")
        self.cls = bool(pooling.get("pooling_mode_cls_token")) and not pooling.get("pooling_mode_mean_tokens")
        limit = _read_json(weights / "sentence_bert_config.json").get("max_seq_length")
        positions = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = int(min(limit or positions, positions))

    def encode(self, texts: list[str]) -> torch.Tensor:
        accepted = set(_forward_params(self.model))
        lengths = [len(ids) for ids in self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]]

        def embed(batch: list[str]) -> torch.Tensor:
            encoded = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in encoded.items() if k in accepted}
            with torch.inference_mode():
                hidden = self.model(**inputs).last_hidden_state
            return normalize(hidden[:, 0] if self.cls else mean_pool(hidden, inputs["attention_mask"]))

        return _in_batches(texts, lengths, embed)


class BaseModelEmbedder:
    """Mean-pooled last hidden states of the audited base model (inside `base_context`, e.g. the adapter disabled)."""

    def __init__(self, model, tokenizer, pad_id: int, base_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext):
        self.model, self.tokenizer, self.pad_id, self.base_context = model, tokenizer, pad_id, base_context

    def encode(self, texts: list[str]) -> torch.Tensor:
        inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        decoder = inner.get_decoder()
        device = next(inner.parameters()).device
        # No special tokens: a BOS (an attention sink) in every text would pull all vectors together.
        encoded = dict(zip(texts, self.tokenizer(texts, add_special_tokens=False)["input_ids"]))

        def embed(batch: list[str]) -> torch.Tensor:
            pieces = [encoded[t] for t in batch]
            width = max(1, max(len(ids) for ids in pieces))
            ids = torch.full((len(pieces), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(pieces), width), dtype=torch.long)
            for row, piece in enumerate(pieces):  # right padding: causal attention never reaches the pads
                ids[row, : len(piece)] = torch.tensor(piece, dtype=torch.long)
                mask[row, : len(piece)] = 1
            ids, mask = ids.to(device), mask.to(device)
            with torch.inference_mode(), self.base_context():
                hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            return normalize(mean_pool(hidden.float(), mask))

        return _in_batches(texts, [len(encoded[t]) for t in texts], embed)


def similarities(embedder, pairs: list[tuple[str, str]]) -> list[float]:
    """Cosine similarity of each (generated, target) pair; identical texts score 1, an empty one 0."""
    texts = sorted({t for pair in pairs for t in pair if t.strip()})
    index = {t: i for i, t in enumerate(texts)}
    vectors = embedder.encode(texts) if texts else None
    scores = []
    for a, b in pairs:
        if a == b:
            scores.append(1.0)
        elif not a.strip() or not b.strip():
            scores.append(0.0)
        else:
            scores.append(float(min(1.0, max(-1.0, (vectors[index[a]] @ vectors[index[b]]).item()))))
    return scores


def _in_batches(texts: list[str], lengths: list[int], embed: Callable[[list[str]], torch.Tensor]) -> torch.Tensor:
    """embed() over length-sorted batches of at most BATCH texts and BATCH_TOKENS tokens, in input order."""
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    out: list[torch.Tensor | None] = [None] * len(texts)
    start = 0
    while start < len(order):
        rows = max(1, min(BATCH, BATCH_TOKENS // max(1, lengths[order[start]])))
        chunk = order[start : start + rows]
        for i, vector in zip(chunk, embed([texts[i] for i in chunk]).cpu()):
            out[i] = vector
        start += rows
    return torch.stack(out) if out else torch.zeros(0, 0)


def _layout(folder: Path) -> tuple[Path, Path]:
    """(transformer folder, pooling folder) of a sentence-transformers folder, from its modules.json.

    Current models keep the transformer at the root; older ones in a subfolder (0_Transformer)."""
    modules = _read_json(folder / "modules.json", list)
    paths = {str(m.get("type", "")).rsplit(".", 1)[-1]: str(m.get("path", "")) for m in modules if isinstance(m, dict)}
    return folder / paths.get("Transformer", ""), folder / (paths.get("Pooling") or "1_Pooling")


def _read_json(path: Path, kind: type = dict):
    """The file's JSON value if it is a `kind`, else an empty one (a missing side file means defaults)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return kind()
    return value if isinstance(value, kind) else kind()


def _forward_params(model) -> list[str]:
    import inspect

    return list(inspect.signature(model.forward).parameters)
