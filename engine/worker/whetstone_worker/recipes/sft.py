"""Supervised fine-tuning on conversations: a lean loop we control end to end (no HF Trainer).

    setup: [resume: pick checkpoint, its config wins] → seed → tokenizer → data → model (+LoRA)
           → optimizer → [resume: restore weights, optimizer, RNG, counters]
    train: per optimizer step: micro-batches → forward/backward → clip → AdamW → metrics event
           → checkpoint every N steps and at the end
    save:  outputs/adapter (LoRA) or outputs/model (full), atomically → done

Owning the loop buys three things the Trainer makes hard: exact resume (data order is a pure
function of the step, RNG states are restored after model construction), loss normalisation by
trained tokens across the whole accumulated step (sum of token losses / trained tokens of the
step, not a mean of per-micro-batch means, so accumulation equals a bigger batch), and errors that
name the phase and the last good checkpoint. The price is that features the Trainer has for free
(multi-GPU) are ours to add.

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

from .. import modeling
from ..config import RunConfig
from ..data.batches import IGNORE, collate, make_micro_batch, make_plan, model_inputs
from ..data.chat import build_samples
from ..data.token_cache import cached_samples
from ..errors import WorkerError
from ..neftune import token_scales
from ..protocol import Emitter
from ..speed import StepSpeedups, load_quantized
from . import common


LAYOUTS = {
    None: "padded batches (packing off)",
    "sdpa": "packed rows, SDPA attention with a block-diagonal mask per row",
    "varlen": "packed rows, FlashAttention 2 varlen attention",
}


def run(job_id: str, run_dir: str, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool], resume: bool) -> None:
    SFTRecipe(job_id, Path(run_dir), config, emitter, cancelled).run(resume)


class SFTRecipe:
    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        common.init_state(self, job_id, run_dir, config, emitter, cancelled)

    # ---------------------------------------------------------------- setup

    def run(self, resume: bool) -> None:
        found = common.resume_point(self) if resume else None
        common.begin(self, found)
        self._load_data()
        if self.cancelled():
            return common.finish_cancelled(self)
        self._load_model(found[0] if found else None)
        if found:
            common.restore(self, found[0])
        common.train_loop(self, "")

    def _load_data(self) -> None:
        data = self.cfg.data
        last = [float("-inf")]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 0.5:  # build_samples reports every 256 rows; the engine needs far fewer
                last[0] = time.monotonic()
                common.progress(self, "data", done, total, "samples", f"Tokenizing {data.train}")

        # Tokenized once per run: a resumed or retried run reads data/tokens.npz instead of tokenizing again.
        self.samples, report, cached = cached_samples(self.tokenizer, Path(data.train), Path(self.cfg.model.path), data.max_length,
                                                      data.overlong, self.run_dir / "data" / "tokens.npz", progress)
        train = self.cfg.training
        lengths = np.array([len(s.ids) for s in self.samples]) if train.packing else None
        self.plan = make_plan(len(self.samples), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps,
                              train.seed, lengths=lengths, capacity=data.max_length)
        dropped = sum(report.dropped.values())
        summary = f"{'Read the tokenized' if cached else 'Tokenized'} {report.read} samples ({dropped} dropped); {self._layout_summary()}"
        common.progress(self, "data", report.read, report.read, "samples", summary, eta=0)
        if report.dropped["too_long"]:
            common.log(self, "warning", f"{report.dropped['too_long']} samples longer than max_length {data.max_length} were dropped")
        if report.dropped["no_trained_tokens"]:
            common.log(self, "warning", f"{report.dropped['no_trained_tokens']} samples with no assistant tokens to train on were dropped")
        if report.truncated:
            common.log(self, "warning", f"{report.truncated} samples longer than max_length {data.max_length} were truncated")
        if report.tools_not_rendered:
            common.log(self, "warning", f"{report.tools_not_rendered} samples carry tool definitions (a tools field) that this model's chat "
                                        "template does not show: the model trains on the calls without seeing the tools; use a model "
                                        "whose template renders tools")
        self.val_samples = []
        if data.validation:
            self.val_samples, val_report = build_samples(self.tokenizer, Path(data.validation), data.max_length, data.overlong)
            common.log(self, "info", f"Validation: {len(self.val_samples)} held-out samples ({sum(val_report.dropped.values())} dropped); "
                      "val_loss is measured at every checkpoint")

    def _load_model(self, checkpoint: Path | None) -> None:
        cfg = self.cfg
        full = cfg.finetune == "full"
        # A full fine-tune resumes from the checkpoint's weights; LoRA reloads the base and then the adapter.
        source = checkpoint / "model" if full and checkpoint else cfg.model.path
        common.progress(self, "load", 1, 2, "step", f"Loading the model from {source}")
        with common.guard(self, "load"):
            if cfg.finetune == "qlora":
                model = load_quantized(str(source), self.precision.autocast, cfg.model.trust_remote_code, self.device)
            else:
                model = modeling.load_model(source, self.precision.weights, cfg.model.trust_remote_code, self.device)
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
        self.speed = StepSpeedups(model, cfg.training, self.device, lambda level, message: common.log(self, level, message))
        trainable = common.prepare_optimizer(self, model)
        common.progress(self, "load", 2, 2, "step", f"Model ready on {self.device.type} ({self.precision.describe()}): "
                       f"{trainable}; {LAYOUTS[self.layout]}"
                       + (f"; {self.speed.summary}" if self.speed.summary else ""))

    def _attention_layout(self, model) -> str | None:
        """None (padded batches), "sdpa" (packed rows + block-diagonal mask) or "varlen" (FlashAttention)."""
        if not self.cfg.training.packing:
            return None
        half = {torch.bfloat16, torch.float16} & {self.precision.weights, self.precision.autocast}
        if self.device.type == "cuda" and half:  # FlashAttention computes in half precision only
            # Not covered by the CPU test suite: FlashAttention's varlen kernel, driven by restarting position ids.
            from transformers.utils import is_flash_attn_2_available

            if is_flash_attn_2_available():
                try:
                    model.set_attn_implementation("flash_attention_2")
                    return "varlen"
                except (ImportError, ValueError) as err:
                    common.log(self, "warning", f"FlashAttention 2 could not be enabled ({err}); packing with SDPA and a block mask instead.")
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

    def _train_step(self) -> None:
        train, plan, s = self.cfg.training, self.plan, self.step
        micro = [
            make_micro_batch(plan, g, self.samples, self.pad_id, train.goldfish, train.seed, self.layout)
            for g in plan.step_micro(s)
        ]
        n_trained = sum(int((m.tensors["labels"][:, 1:] != IGNORE).sum()) for m in micro)
        lr = common.set_lr(self)
        loss_sum = 0.0
        for m in micro:
            batch = self.speed.to_device(m.tensors)
            scales = token_scales(batch["lengths"], self.embed_dim, train.neftune_alpha) if train.neftune_alpha > 0 else None
            with common.guard(self, "forward"), common.autocast(self), self.neftune.noise(scales):
                loss = self.speed.loss_sum(self.model, model_inputs(batch), batch["labels"])
            value = loss.item()
            if not math.isfinite(value):
                self._raise_non_finite(f"The loss became {value}", m.samples)
            with common.guard(self, "backward"):
                # Per-token mean over the whole optimizer step; max(…, 1): goldfish may leave a step of tiny samples empty.
                scaled = loss / max(n_trained, 1)
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            loss_sum += value
        grad_norm = common.optimizer_step(self, lambda what: self._raise_non_finite(what, [x for m in micro for x in m.samples]))
        step_tokens = sum(m.real_tokens for m in micro)
        common.count_step(self, step_tokens, n_trained, sum(m.dropped for m in micro), loss_sum / max(n_trained, 1))
        efficiency = step_tokens / (sum(m.rows for m in micro) * self.cfg.data.max_length)
        extra = {"val_loss": self._validation_loss()} if self.val_samples and common.checkpoint_due(self) else {}
        common.emit_metrics(self, lr, grad_norm, efficiency, **extra)

    @torch.no_grad()
    def _validation_loss(self) -> float:
        """Per-token loss on the held-out samples: every assistant token (no goldfish drops), no
        NEFTune (eval mode), padded micro-batches in file order. Uses no RNG, so exact resume holds."""
        self.model.eval()
        total, count, size = 0.0, 0, self.cfg.training.micro_batch_size
        try:
            for i in range(0, len(self.val_samples), size):
                batch = {k: v.to(self.device) for k, v in collate(self.val_samples[i : i + size], self.pad_id).items()}
                with common.guard(self, "eval"), common.autocast(self):
                    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
                    total += float(self.speed.loss_sum(self.model, inputs, batch["labels"]))
                count += int((batch["labels"][:, 1:] != IGNORE).sum())
        finally:
            self.model.train()
        return total / max(count, 1)

    def _raise_non_finite(self, what: str, samples: list) -> None:
        raise common.non_finite_error(self, what, [s.line for s in samples], "training.learning_rate (2–10×)")

    # ---------------------------------------------------------------- save / finish

    def _checkpoint(self) -> None:
        common.save_checkpoint(self, self.plan.packed)

    def _finish_completed(self) -> None:
        common.finish_completed(self)
