"""The policy and its reference, the component both preference recipes share (pairs: preference.py,
KTO: kto.py): the initial weights, LoRA or full fine-tuning, the reference as the method's row asks
for it, response-token log-probs, and the output adapter of a chained run.

Initial weights: model.path, or init_from (a finished SFT run's adapter merged into the base, or
its model folder). The reference is the initial policy. With LoRA it is the same weights with the
adapter disabled, so no second copy of the model exists (an init_from adapter is merged into the
base first, so the reference is the SFT model, not the raw base). With full fine-tuning it is a
frozen copy loaded from the initial weights, unless the recipe precomputes the reference's
log-probs (preference.precompute_reference, pairs only).

Response-token log-probs (policy and reference alike) come, with training.chunked_loss (the
default), from the decoder's hidden states: only response positions go through the output head,
in chunks of 1,024 tokens (losses/chunked_ce.py linear_token_logps), so no rows × T × vocab logits
tensor exists. Same values and gradients as the full-logits path (tests/recipes/test_preference.py),
which is used when chunked_loss is off or the head cannot be chunked (LoRA on lm_head, soft-capped
logits), with a warning saying why.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .. import modeling
from ..config import RunConfig
from ..data.chat import Sample
from ..errors import WorkerError
from ..losses import preference as L
from ..losses.chunked_ce import head_for_chunked_loss, hidden_states, linear_token_logps
from ..losses.methods import METHODS, Method
from ..speed import StepSpeedups
from . import chain
from .loop import Loop


def check_config(cfg: RunConfig):
    """The run's resolved preference section, or why this configuration cannot run (the recipes and preflight)."""
    if cfg.method not in METHODS or cfg.preference is None:
        raise WorkerError("CONFIG_INVALID", f"method {cfg.method!r} needs a resolved preference section (got {cfg.preference!r}).",
                          "Start the run through the engine, which fills in each method's defaults.")
    if cfg.finetune == "qlora":
        raise WorkerError("CONFIG_INVALID", f"finetune qlora is not available for {cfg.method} yet.",
                          "Use finetune: lora (same adapters on full-precision base weights) or full.")
    return cfg.preference


def load(recipe, checkpoint: Path | None) -> bool:
    """The preference recipes' setup up to the model: the config check, the loop's begin (seeds,
    tokenizer), recipe.load_data(), and, unless the job was cancelled meanwhile, recipe.load_model()."""
    check_config(recipe.loop.cfg)
    recipe.loop.begin()
    recipe.load_data()
    if recipe.loop.cancelled():
        return False
    recipe.load_model(checkpoint)
    return True


def initial_eval(recipe) -> dict[str, float] | None:
    """A fresh run's held-out metrics before training (None without held-out data), logged."""
    out = recipe.evaluate()
    if not out:
        return None
    recipe.loop.log("info", f"Held-out preference accuracy before training: {out['val_rewards/accuracy']:.1%}")
    return out


class Policy:
    """The model being trained and its reference; build() makes them, the rest reads them."""

    def __init__(self, loop: Loop, method: Method):
        self.loop, self.method = loop, method
        self.model = None
        self.reference = None  # full fine-tuning without precomputed log-probs: a frozen copy
        self.parent_lora: tuple[chain.Parts, int] | None = None  # init_from adapter (scaled factors, rank), LoRA runs
        self.head = self.ref_head = None  # output heads for chunked log-probs (None: full logits)

    def _initial_weights(self, source: str | Path | None = None, device: torch.device | None = None):
        """The policy's starting weights: model.path, or init_from (an adapter merged into the base, or a model
        folder), on `device` (default the run's)."""
        loop, cfg = self.loop, self.loop.cfg
        device = device or loop.device
        init = Path(cfg.init_from) if cfg.init_from else None
        with loop.guard("load"):
            if source is None and init is not None and (init / "adapter_config.json").is_file():
                from peft import PeftModel

                base = modeling.load_model(cfg.model.path, loop.precision.weights, cfg.model.trust_remote_code, device)
                try:
                    parent = PeftModel.from_pretrained(base, str(init))
                except (ValueError, KeyError, RuntimeError, OSError) as err:
                    raise WorkerError("MODEL_LOAD_FAILED", f"init_from {init}: the adapter does not fit {cfg.model.path}: {err}",
                                      "Chain from a run that trained on the same base model.") from None
                if cfg.finetune != "full":  # the output adapter will carry the parent's update too (chain.py)
                    self.parent_lora = (chain.lora_parts(parent, f"init_from {init}"), parent.active_peft_config.r)
                return parent.merge_and_unload()
            if source is None and init is not None:
                modeling.check_model_dir(init, "init_from model")
            path = source or init or cfg.model.path
            return modeling.load_model(path, loop.precision.weights, cfg.model.trust_remote_code, device)

    def build(self, checkpoint: Path | None, samples: Iterable[Sample], precomputed: bool) -> None:
        """Policy (from `checkpoint` for a full fine-tune), LoRA, the reference (`precomputed`: the
        recipe holds the reference's log-probs instead), speed switches and the optimizer; token ids of
        `samples` are checked against the embeddings."""
        loop, cfg = self.loop, self.loop.cfg
        full = cfg.finetune == "full"
        source = checkpoint / "model" if full and checkpoint else None
        loop.progress("load", 1, 2, "step", f"Loading the model from {source or cfg.init_from or cfg.model.path}")
        model = self._initial_weights(source, loop.load_device)
        vocab = model.get_input_embeddings().num_embeddings
        for sample in samples:
            top = int(sample.ids.max())
            if top >= vocab:
                raise WorkerError("DATA_INVALID", f"{cfg.data.train}:{sample.line}: token id {top} is outside the model's {vocab} embeddings.",
                                  "The tokenizer does not belong to this model; use the tokenizer saved with the model.")
        if cfg.training.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if not full:
            model = modeling.apply_lora(model, cfg.lora)
            if self.parent_lora:
                chain.lora_parts(model, "lora")  # refuses, before training, what could not be combined at the end
        model.train()
        self.model = model
        if full and self.method.needs_reference and not precomputed:
            self.reference = self._initial_weights().eval().requires_grad_(False)
        # SFT's speed and memory switches (Liger, compile, activation offload, pinned batches; speed.py),
        # with their errors where this machine cannot honour them. Its output head is the chunked
        # log-probs' head (None: full logits, with why); the frozen reference copy has a plain head of
        # its own, otherwise the reference is the policy's base.
        self.speed = StepSpeedups(model, cfg.training, loop.device, loop.log)
        self.head = self.speed.head
        self.ref_head = head_for_chunked_loss(self.reference)[0] if self.reference is not None and cfg.training.chunked_loss else self.head
        trainable = loop.attach_optimizer(model)
        ref = ("reference: " + ("precomputed log-probs" if cfg.preference.precompute_reference else
                                "a frozen copy" if full else "the same weights, adapter disabled")
               if self.method.needs_reference else "no reference model")
        loop.progress("load", 2, 2, "step", f"Model ready on {loop.device.type} ({loop.precision.describe()}): "
                      f"{trainable}; {cfg.method}, {ref}" + ("; chunked log-probs" if self.head is not None else "")
                      + (f"; {self.speed.switches}" if self.speed.switches else ""))

    def token_logps(self, model, head, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows, T−1) log-probs of the response tokens, 0 elsewhere: chunked through `head`, or from full logits."""
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if head is None:
            return L.token_logps(model(**inputs).logits, batch["labels"])
        return linear_token_logps(hidden_states(model, inputs)[:, :-1], head, batch["labels"][:, 1:])

    def policy_logps(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows, T−1) response log-probs under the policy, with gradient (activations offloaded when configured)."""
        with self.speed.offload():  # the policy's saved activations; the reference pass saves none
            return self.loop.call(self.model, self.token_logps, self.head, batch)

    @torch.no_grad()
    def reference_logps(self, *batches: dict[str, torch.Tensor]) -> list[torch.Tensor] | torch.Tensor:
        """(rows, T−1) response log-probs of each batch under the reference: adapter disabled, or the frozen
        copy (one batch: its tensor; several: a list)."""
        loop = self.loop
        ctx = self.model.disable_adapter() if self.reference is None and loop.cfg.finetune == "lora" else contextlib.nullcontext()
        model = self.reference if self.reference is not None else self.model
        # The policy's NEFTune block is armed around the whole loss; with LoRA the reference runs
        # the same (hooked) embedding module, so the noise is paused here explicitly.
        with ctx, loop.neftune.paused(), loop.autocast():
            out = [self.token_logps(model, self.ref_head, batch) for batch in batches]
        return out[0] if len(batches) == 1 else out

    def reference_sums(self, *batches: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Summed response log-probs per row of each batch under the reference."""
        logps = self.reference_logps(*batches)
        return [x.sum(-1) for x in (logps if isinstance(logps, list) else [logps])]

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.speed.to_device(batch)  # pinned memory, non-blocking copies on CUDA

    def output(self):
        """outputs/adapter of a run chained from an adapter is parent + own update in one adapter on
        model.path (chain.py), so export, evaluation and merge use it like any other adapter."""
        if self.parent_lora is None:
            return self.model
        parts, rank = self.parent_lora
        combined = chain.combine(parts, rank, chain.lora_parts(self.model, "lora"), self.loop.cfg.lora.r)
        return chain.CombinedAdapter(combined, self.loop.cfg.model.path, self.loop.cfg.lora.dropout)


def synthetic_samples(ids: torch.Tensor) -> list[Sample]:
    """Rows of token ids as samples with a one-token prompt, every later token a response token (preflight's full rows)."""
    trained = np.ones(ids.shape[1], dtype=bool)
    trained[0] = False
    return [Sample(row.numpy().astype(np.int32), trained, 0) for row in ids]
