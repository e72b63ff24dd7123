"""Supervised fine-tuning on conversations: a lean loop we control end to end (no HF Trainer).

    setup: [resume: pick checkpoint, its config wins] → seed → tokenizer → data → model (+LoRA)
           → optimizer → [resume: restore weights, optimizer, RNG, counters]
    train: per optimizer step: micro-batches → forward/backward → clip → AdamW → metrics event
           → checkpoint every N steps and at the end
    save:  outputs/adapter (LoRA) or outputs/model (full), atomically → done

This file is the recipe's part (data, model, the step's forward and backward, validation); the
rest is the shared loop's (loop.py), which calls only the public methods below.

Owning the loop buys three things the Trainer makes hard: exact resume (data order is a pure
function of the step, RNG states are restored after model construction), loss normalisation by
trained tokens across the whole accumulated step (sum of token losses / trained tokens of the
step, not a mean of per-micro-batch means, so accumulation equals a bigger batch), and errors that
name the phase and the last good checkpoint. The price is that features the Trainer has for free
(multi-GPU) are ours to add: several ranks (distributed.py) each forward every W-th micro-batch of a
step, with the loss still scaled by the whole step's trained tokens.

Options that shape a step, each in its own component: packing (data/packing.py: rows of
max_length, attention kept per sample), goldfish (losses/goldfish.py: labels of dropped tokens
become IGNORE, so "trained tokens" counts only what is left) and NEFTune (neftune.py: embedding
noise, armed only around training forwards, from the global RNG that checkpoints restore).
Speed and memory switches (chunked loss, torch.compile, Liger, activation offload, QLoRA loading)
live in speed.py; the tokenized samples are cached per run by data/token_cache.py.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (tests patch sft.F.cross_entropy, the plain loss path)

from .. import distributed, modeling
from ..config import RunConfig
from ..data.batches import IGNORE, collate, make_micro_batch, make_plan, model_inputs
from ..data.chat import build_samples
from ..data.token_cache import cached_samples
from ..errors import WorkerError
from ..neftune import token_scales
from ..protocol import Emitter
from ..speed import StepSpeedups, load_quantized
from .loop import Loop, Step


LAYOUTS = {
    None: "padded batches (packing off)",
    "sdpa": "packed rows, SDPA attention with a block-diagonal mask per row",
    "varlen": "packed rows, FlashAttention 2 varlen attention",
}


def run(job_id: str, run_dir: str, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool], resume: bool) -> None:
    SFTRecipe(job_id, Path(run_dir), config, emitter, cancelled).run(resume)


class SFTRecipe:
    label = ""
    distributed = True  # trains on several ranks (distributed.py): each forwards its share of a step's micro-batches
    knobs = "training.learning_rate (2–10×)"

    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        self.loop = Loop(job_id, run_dir, config, emitter, cancelled)
        self.samples: list = []
        self.val_samples: list = []

    @property
    def cfg(self) -> RunConfig:
        return self.loop.cfg

    def run(self, resume: bool) -> None:
        self.loop.run(self, resume)

    # ---------------------------------------------------------------- setup

    def setup(self, checkpoint: Path | None) -> bool:
        self.loop.begin()
        self.load_data()
        if self.loop.cancelled():
            return False
        self.load_model(checkpoint)
        return True

    def load_data(self) -> None:
        data, loop = self.cfg.data, self.loop
        last = [float("-inf")]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 0.5:  # build_samples reports every 256 rows; the engine needs far fewer
                last[0] = time.monotonic()
                loop.progress("data", done, total, "samples", f"Tokenizing {data.train}")

        # Tokenized once per run: a resumed or retried run reads data/tokens.npz instead of tokenizing again.
        self.samples, report, cached = cached_samples(loop.tokenizer, Path(data.train), Path(self.cfg.model.path), data.max_length,
                                                      data.overlong, loop.run_dir / "data" / "tokens.npz", progress)
        train = self.cfg.training
        lengths = np.array([len(s.ids) for s in self.samples]) if train.packing else None
        self.plan = make_plan(len(self.samples), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps,
                              train.seed, lengths=lengths, capacity=data.max_length)
        dropped = sum(report.dropped.values())
        summary = f"{'Read the tokenized' if cached else 'Tokenized'} {report.read} samples ({dropped} dropped); {self._layout_summary()}"
        loop.progress("data", report.read, report.read, "samples", summary, eta=0)
        if report.dropped["too_long"]:
            loop.log("warning", f"{report.dropped['too_long']} samples longer than max_length {data.max_length} were dropped")
        if report.dropped["no_trained_tokens"]:
            loop.log("warning", f"{report.dropped['no_trained_tokens']} samples with no assistant tokens to train on were dropped")
        if report.truncated:
            loop.log("warning", f"{report.truncated} samples longer than max_length {data.max_length} were truncated")
        if report.tools_not_rendered:
            loop.log("warning", f"{report.tools_not_rendered} samples carry tool definitions (a tools field) that this model's chat "
                                "template does not show: the model trains on the calls without seeing the tools; use a model "
                                "whose template renders tools")
        self.val_samples = []
        if data.validation:
            self.val_samples, val_report = build_samples(loop.tokenizer, Path(data.validation), data.max_length, data.overlong)
            loop.log("info", f"Validation: {len(self.val_samples)} held-out samples ({sum(val_report.dropped.values())} dropped); "
                     "val_loss is measured at every checkpoint")

    def load_model(self, checkpoint: Path | None) -> None:
        """The model (from `checkpoint` for a full fine-tune), LoRA, the speed switches and the optimizer;
        token ids of the data loaded so far are checked against the embeddings (preflight loads none)."""
        cfg, loop = self.cfg, self.loop
        full = cfg.finetune == "full"
        # A full fine-tune resumes from the checkpoint's weights; LoRA reloads the base and then the adapter.
        source = checkpoint / "model" if full and checkpoint else cfg.model.path
        loop.progress("load", 1, 2, "step", f"Loading the model from {source}")
        with loop.guard("load"):
            if cfg.finetune == "qlora":
                model = load_quantized(str(source), loop.precision.autocast, cfg.model.trust_remote_code, loop.device)
            else:
                model = modeling.load_model(source, loop.precision.weights, cfg.model.trust_remote_code, loop.load_device)
        vocab = model.get_input_embeddings().num_embeddings
        too_big = next((s for s in self.samples if int(s.ids.max()) >= vocab), None)
        if too_big is not None:
            raise WorkerError(
                "DATA_INVALID",
                f"{cfg.data.train}:{too_big.line}: token id {int(too_big.ids.max())} is outside the model's {vocab} embeddings.",
                "The tokenizer does not belong to this model; use the tokenizer saved with the model.",
            )
        if cfg.training.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.layout = self._attention_layout(model)
        if not full:
            model = modeling.apply_lora(model, cfg.lora)
        model.train()
        self.model = model
        self.speed = StepSpeedups(model, cfg.training, loop.device, loop.log)
        trainable = loop.attach_optimizer(model)
        loop.progress("load", 2, 2, "step", f"Model ready on {loop.device.type} ({loop.precision.describe()}): "
                      f"{trainable}; {LAYOUTS[self.layout]}"
                      + (f"; {self.speed.summary}" if self.speed.summary else ""))

    def _attention_layout(self, model) -> str | None:
        """None (padded batches), "sdpa" (packed rows + block-diagonal mask) or "varlen" (FlashAttention)."""
        if not self.cfg.training.packing:
            return None
        precision = self.loop.precision
        half = {torch.bfloat16, torch.float16} & {precision.weights, precision.autocast}
        if self.loop.device.type == "cuda" and half:  # FlashAttention computes in half precision only
            # Not covered by the CPU test suite: FlashAttention's varlen kernel, driven by restarting position ids.
            from transformers.utils import is_flash_attn_2_available

            if is_flash_attn_2_available():
                try:
                    model.set_attn_implementation("flash_attention_2")
                    return "varlen"
                except (ImportError, ValueError) as err:
                    self.loop.log("warning", f"FlashAttention 2 could not be enabled ({err}); packing with SDPA and a block mask instead.")
        if model.config._attn_implementation != "sdpa":
            raise WorkerError(
                "CONFIG_INVALID",
                f"training.packing needs SDPA or FlashAttention 2 attention; this model uses {model.config._attn_implementation!r}.",
                "Set training.packing to false for this model.",
            )
        return "sdpa"

    def _layout_summary(self) -> str:
        plan, max_length = self.plan, self.cfg.data.max_length
        if not plan.packed:
            return f"no packing: micro-batches of {plan.micro_batch_size} padded samples"
        rows = plan.rows_in_epoch(0)
        real = sum(len(s.ids) for s in self.samples)
        return (f"packed {len(self.samples)} samples into {rows} rows of {max_length} tokens "
                f"({real / (rows * max_length):.1%} filled), micro-batches of {plan.micro_batch_size} rows")

    # ---------------------------------------------------------------- train

    def train_step(self) -> Step:
        loop, train, plan = self.loop, self.cfg.training, self.plan
        micro = [
            make_micro_batch(plan, g, self.samples, loop.pad_id, train.goldfish, train.seed, self.layout)
            for g in plan.step_micro(loop.state.step)
        ]
        lines = [s.line for m in micro for s in m.samples]
        n_trained = sum(int((m.tensors["labels"][:, 1:] != IGNORE).sum()) for m in micro)
        loss_sum = 0.0
        world = distributed.current()
        for m, counts in loop.my_share(micro):
            batch = self.speed.to_device(m.tensors)
            # A padding micro-batch (sharded model, counts False) runs without noise: it draws no random numbers.
            scales = token_scales(batch["lengths"], loop.embed_dim, train.neftune_alpha) if train.neftune_alpha > 0 and counts else None
            with loop.guard("forward"), loop.autocast(), loop.neftune.noise(scales):
                loss = loop.call(self.model, self.speed.loss_sum, model_inputs(batch), batch["labels"])
            value = loss.item()
            if counts and not math.isfinite(value):
                raise loop.non_finite_error(f"The loss became {value}", [s.line for s in m.samples], self.knobs)
            # Per-token mean over the whole optimizer step; max(…, 1): goldfish may leave a step of tiny samples empty.
            loop.backward(loss / max(n_trained, 1), counts)
            loss_sum += value if counts else 0.0
        if world is not None:  # the step's loss: every rank's share
            loss_sum = distributed.sum_all(loss_sum)
        step_tokens = sum(m.real_tokens for m in micro)
        efficiency = step_tokens / (sum(m.rows for m in micro) * self.cfg.data.max_length)
        return Step(loss_sum / max(n_trained, 1), step_tokens, n_trained, sum(m.dropped for m in micro), efficiency, lines)

    def probe_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """The loss of one micro-batch of full rows `ids` (every token trained), scaled as a step's
        (preflight measures the memory of this, then the backward and the optimizer step)."""
        with self.loop.autocast():  # the recipe's own loss path (chunked cross-entropy, Liger, offload as configured)
            ids = ids.to(self.loop.device)
            return self.speed.loss_sum(self.model, {"input_ids": ids}, ids) / ids.numel()

    def evaluate(self) -> dict[str, float]:
        return {"val_loss": self.validation_loss()} if self.val_samples else {}

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Per-token loss on the held-out samples: every assistant token (no goldfish drops), no
        NEFTune (eval mode), padded micro-batches in file order. Uses no RNG, so exact resume holds."""
        loop = self.loop
        self.model.eval()
        total, count, size = 0.0, 0, self.cfg.training.micro_batch_size
        try:
            for i in range(0, len(self.val_samples), size):
                batch = {k: v.to(loop.device) for k, v in collate(self.val_samples[i : i + size], loop.pad_id).items()}
                with loop.guard("eval"), loop.autocast():
                    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
                    total += float(loop.call(self.model, self.speed.loss_sum, inputs, batch["labels"]))
                count += int((batch["labels"][:, 1:] != IGNORE).sum())
        finally:
            self.model.train()
        return total / max(count, 1)

    # ---------------------------------------------------------------- checkpoints and output

    def save_extra(self, folder: Path) -> None:
        pass  # everything SFT needs is the loop's (weights, optimizer, RNG, counters)

    def load_extra(self, folder: Path) -> None:
        pass

    def output(self):
        return self.model
