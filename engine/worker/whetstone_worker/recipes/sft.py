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
"""

from __future__ import annotations

import contextlib
import math
import pickle
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import modeling
from ..checkpoint import latest_valid, read_training_state, restore_rng, sha256_file, step_name, write_checkpoint, write_training_state
from ..config import RunConfig, diff, parse_run_config
from ..data.batches import IGNORE, collate, make_micro_batch, make_plan, model_inputs
from ..data.chat import build_samples
from ..device import choose_precision, pick_device
from ..errors import WorkerError, out_of_memory
from ..neftune import NEFTune, token_scales
from ..protocol import Emitter
from ..schedule import lr_at
from ..validate import Invalid


LAYOUTS = {
    None: "padded batches (packing off)",
    "sdpa": "packed rows, SDPA attention with a block-diagonal mask per row",
    "varlen": "packed rows, FlashAttention 2 varlen attention",
}


def run(job_id: str, run_dir: str, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool], resume: bool) -> None:
    SFTRecipe(job_id, Path(run_dir), config, emitter, cancelled).run(resume)


class SFTRecipe:
    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.run_dir, self.cfg, self.emitter, self.cancelled = job_id, run_dir, config, emitter, cancelled
        self.t0 = time.monotonic()
        self.device = pick_device()
        self.last_checkpoint: Path | None = None
        self.step = self.tokens = self.trained_tokens = self.dropped_tokens = 0
        self.elapsed_before = 0.0  # training time spent by earlier workers on this run
        self.last_loss: float | None = None

    # ---------------------------------------------------------------- setup

    def run(self, resume: bool) -> None:
        found = self._find_checkpoint() if resume else None
        cfg, train = self.cfg, self.cfg.training
        self.precision = choose_precision(train.precision, cfg.model.dtype, cfg.finetune, self.device)
        modeling.check_model_dir(cfg.model.path)
        self.fingerprint = sha256_file(Path(cfg.data.train)) if Path(cfg.data.train).is_file() else None
        if found and found[1].get("data_fingerprint") != self.fingerprint:
            self._log("warning", "The training data changed since the checkpoint was written; the resumed run will not match the original.")
        random.seed(train.seed)
        np.random.seed(train.seed)
        torch.manual_seed(train.seed)

        self._progress("load", 0, 2, "step", f"Loading the tokenizer from {cfg.model.path}")
        self.tokenizer = modeling.load_tokenizer(cfg.model.path, cfg.model.trust_remote_code)
        self.pad_id = modeling.pad_id(self.tokenizer)
        self._load_data()
        if self.cancelled():
            return self._finish_cancelled()
        self._load_model(found[0] if found else None)
        if found:
            self._restore(found[0])
        self._train()

    def _find_checkpoint(self) -> tuple[Path, dict] | None:
        found = latest_valid(self.run_dir, on_skip=lambda name, why: self._log("warning", f"Ignoring checkpoint {name}: {why}."))
        if found is None:
            self._log("warning", f"No valid checkpoint in {self.run_dir / 'checkpoints'}; starting the run from scratch.")
            return None
        path, manifest = found
        try:
            stored = parse_run_config(manifest["config"], "checkpoint config")
        except (Invalid, KeyError) as err:
            raise WorkerError("CHECKPOINT_CORRUPT", f"{path}: the stored config is not valid ({err}).", "Start a new run.") from None
        for field, old, new in diff(manifest["config"], self.cfg.as_dict()):
            self._log("warning", f"Config field {field}: the checkpoint has {old!r}, the resume command has {new!r}; the checkpoint's value wins.")
        self.cfg = stored
        return path, manifest

    def _load_data(self) -> None:
        data = self.cfg.data
        last = [float("-inf")]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 0.5:  # build_samples reports every 256 rows; the engine needs far fewer
                last[0] = time.monotonic()
                self._progress("data", done, total, "samples", f"Tokenizing {data.train}")

        self.samples, report = build_samples(self.tokenizer, Path(data.train), data.max_length, data.overlong, progress)
        train = self.cfg.training
        lengths = np.array([len(s.ids) for s in self.samples]) if train.packing else None
        self.plan = make_plan(len(self.samples), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps,
                              train.seed, lengths=lengths, capacity=data.max_length)
        dropped = sum(report.dropped.values())
        summary = f"Tokenized {report.read} samples ({dropped} dropped); {self._layout_summary()}"
        self._progress("data", report.read, report.read, "samples", summary, eta=0)
        if report.dropped["too_long"]:
            self._log("warning", f"{report.dropped['too_long']} samples longer than max_length {data.max_length} were dropped")
        if report.dropped["no_trained_tokens"]:
            self._log("warning", f"{report.dropped['no_trained_tokens']} samples with no assistant tokens to train on were dropped")
        if report.truncated:
            self._log("warning", f"{report.truncated} samples longer than max_length {data.max_length} were truncated")
        self.val_samples = []
        if data.validation:
            self.val_samples, val_report = build_samples(self.tokenizer, Path(data.validation), data.max_length, data.overlong)
            self._log("info", f"Validation: {len(self.val_samples)} held-out samples ({sum(val_report.dropped.values())} dropped); "
                      "val_loss is measured at every checkpoint")

    def _load_model(self, checkpoint: Path | None) -> None:
        cfg = self.cfg
        full = cfg.finetune == "full"
        # A full fine-tune resumes from the checkpoint's weights; LoRA reloads the base and then the adapter.
        source = checkpoint / "model" if full and checkpoint else cfg.model.path
        self._progress("load", 1, 2, "step", f"Loading the model from {source}")
        with self._guard("load"):
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
        self.neftune = NEFTune(cfg.training.neftune_alpha).attach(model)
        self.embed_dim = model.get_input_embeddings().embedding_dim
        self.params = [p for p in model.parameters() if p.requires_grad]
        train = cfg.training
        groups = [  # no weight decay on norms and biases, as usual
            {"params": [p for p in self.params if p.ndim >= 2], "weight_decay": train.weight_decay},
            {"params": [p for p in self.params if p.ndim < 2], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=train.learning_rate, betas=(train.adam_beta1, train.adam_beta2), eps=train.adam_epsilon
        )
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision.grad_scaler else None
        trainable, total = modeling.count_parameters(model)
        what = f"LoRA r={cfg.lora.r}" if not full else "full fine-tuning"
        self._progress("load", 2, 2, "step", f"Model ready on {self.device.type} ({self.precision.describe()}): "
                       f"{trainable:,} of {total:,} parameters trainable ({what}); {LAYOUTS[self.layout]}")

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
                    self._log("warning", f"FlashAttention 2 could not be enabled ({err}); packing with SDPA and a block mask instead.")
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

    def _restore(self, path: Path) -> None:
        try:
            optimizer_state, rng, state = read_training_state(path)
            if self.cfg.finetune == "lora":
                modeling.load_adapter_weights(self.model, path / "adapter")
            self.optimizer.load_state_dict(optimizer_state["optimizer"])
            if self.scaler is not None and optimizer_state.get("scaler"):
                self.scaler.load_state_dict(optimizer_state["scaler"])
            self.step, self.tokens, self.trained_tokens = state["step"], state["tokens"], state["trained_tokens"]
            self.dropped_tokens = state.get("dropped_tokens", 0)  # absent in checkpoints written before goldfish
            self.elapsed_before, self.last_loss = state["elapsed_s"], state["last_loss"]
        except WorkerError:
            raise
        except (KeyError, ValueError, RuntimeError, OSError, pickle.UnpicklingError) as err:
            raise WorkerError("CHECKPOINT_CORRUPT", f"{path} could not be restored: {err}", "Delete that checkpoint folder to resume from the one before it, or start a new run.") from None
        # RNG last: everything above (including LoRA init during setup) must not disturb the restored streams.
        restore_rng(rng)
        self.last_checkpoint = path
        self._log("info", f"Resumed from {path} at step {self.step} of {self.plan.total_steps}")

    # ---------------------------------------------------------------- train

    def _train(self) -> None:
        total = self.plan.total_steps
        self._progress("train", self.step, total, "steps", f"Training for {total - self.step} of {total} optimizer steps")
        self.session_start, self.session_steps, self.session_tokens = time.monotonic(), 0, 0
        while self.step < total:
            if self.cancelled():
                return self._finish_cancelled()
            self._train_step()
            if self._checkpoint_due():
                self._checkpoint()
        self._finish_completed()

    def _train_step(self) -> None:
        train, plan, s = self.cfg.training, self.plan, self.step
        micro = [
            make_micro_batch(plan, g, self.samples, self.pad_id, train.goldfish, train.seed, self.layout)
            for g in plan.step_micro(s)
        ]
        n_trained = sum(int((m.tensors["labels"][:, 1:] != IGNORE).sum()) for m in micro)
        lr = lr_at(s, plan.total_steps, train.learning_rate, train.scheduler, train.warmup_ratio, train.decay_ratio, train.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        autocast = torch.autocast(self.device.type, dtype=self.precision.autocast) if self.precision.autocast else contextlib.nullcontext()
        loss_sum = 0.0
        for m in micro:
            batch = {k: v.to(self.device) for k, v in m.tensors.items()}
            scales = token_scales(batch["lengths"], self.embed_dim, train.neftune_alpha) if train.neftune_alpha > 0 else None
            with self._guard("forward"), autocast, self.neftune.noise(scales):
                logits = self.model(**model_inputs(batch)).logits
                loss = F.cross_entropy(
                    logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(), ignore_index=IGNORE, reduction="sum"
                )
            value = loss.item()
            if not math.isfinite(value):
                self._raise_non_finite(f"The loss became {value}", m.samples)
            with self._guard("backward"):
                # Per-token mean over the whole optimizer step; max(…, 1): goldfish may leave a step of tiny samples empty.
                scaled = loss / max(n_trained, 1)
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            loss_sum += value
        with self._guard("optimizer"):
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, train.max_grad_norm or math.inf))
            if self.scaler:
                self.scaler.step(self.optimizer)  # skips the update itself when fp16 gradients overflowed
                self.scaler.update()
            elif not math.isfinite(grad_norm):
                self._raise_non_finite(f"The gradient norm became {grad_norm}", [x for m in micro for x in m.samples])
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        step_tokens = sum(m.real_tokens for m in micro)
        self.step += 1
        self.tokens += step_tokens
        self.trained_tokens += n_trained
        self.dropped_tokens += sum(m.dropped for m in micro)
        self.session_steps += 1
        self.session_tokens += step_tokens
        self.last_loss = loss_sum / max(n_trained, 1)
        efficiency = step_tokens / (sum(m.rows for m in micro) * self.cfg.data.max_length)
        extra = {"val_loss": self._validation_loss()} if self.val_samples and self._checkpoint_due() else {}
        self._metrics(lr, grad_norm if math.isfinite(grad_norm) else None, efficiency, **extra)

    def _checkpoint_due(self) -> bool:
        return self.step % self.cfg.training.checkpoint_every == 0 or self.step == self.plan.total_steps

    @torch.no_grad()
    def _validation_loss(self) -> float:
        """Per-token loss on the held-out samples: every assistant token (no goldfish drops), no
        NEFTune (eval mode), padded micro-batches in file order. Uses no RNG, so exact resume holds."""
        self.model.eval()
        autocast = torch.autocast(self.device.type, dtype=self.precision.autocast) if self.precision.autocast else contextlib.nullcontext()
        total, count, size = 0.0, 0, self.cfg.training.micro_batch_size
        try:
            for i in range(0, len(self.val_samples), size):
                batch = {k: v.to(self.device) for k, v in collate(self.val_samples[i : i + size], self.pad_id).items()}
                with self._guard("eval"), autocast:
                    logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    labels = batch["labels"][:, 1:].flatten()
                    total += float(F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels, ignore_index=IGNORE, reduction="sum"))
                count += int((labels != IGNORE).sum())
        finally:
            self.model.train()
        return total / max(count, 1)

    def _metrics(self, lr: float, grad_norm: float | None, packing_efficiency: float, **extra: float) -> None:
        session = max(time.monotonic() - self.session_start, 1e-9)
        total = self.plan.total_steps
        consumed = min(self.step * self.plan.accumulation, self.plan.total_micro)
        self.emitter.emit(
            "metrics",
            id=self.id,
            step=self.step,
            total_steps=total,
            epoch=round(self.plan.epoch_float(consumed), 6),
            loss=self.last_loss,
            lr=lr,
            grad_norm=grad_norm,
            tokens=self.tokens,
            tokens_per_s=round(self.session_tokens / session, 3),
            elapsed_s=round(self._elapsed(), 3),
            eta_s=round((total - self.step) * session / self.session_steps, 3),
            trained_tokens=self.trained_tokens,  # tokens the loss was computed on (after goldfish drops)
            dropped_tokens=self.dropped_tokens,  # trained tokens goldfish left out, cumulative
            packing_efficiency=round(packing_efficiency, 6),  # real tokens / (rows × max_length) of this step
            **extra,
        )

    def _raise_non_finite(self, what: str, samples: list) -> None:
        where = f" The last good checkpoint is {self.last_checkpoint}." if self.last_checkpoint else ""
        lines = ", ".join(str(s.line) for s in samples[:8])
        raise WorkerError(
            "NON_FINITE_LOSS",
            f"{what} at step {self.step + 1} (data lines {lines}).{where}",
            "Lower training.learning_rate (2–10×), keep training.max_grad_norm set, or use bf16/fp32 instead of fp16; "
            "then start a new run (resuming repeats the same step).",
            recoverable=False,
        )

    # ---------------------------------------------------------------- save / finish

    def _checkpoint(self) -> None:
        folder_name = "model" if self.cfg.finetune == "full" else "adapter"
        plan = self.plan
        consumed = min(self.step * plan.accumulation, plan.total_micro)
        epoch, index = plan.position(consumed)
        state = {
            "step": self.step,
            "total_steps": plan.total_steps,
            "data_position": {
                "epoch": epoch, "micro_batch": index, "micro_batches_consumed": consumed,
                "micro_batches_in_epoch": plan.micro_in_epoch(epoch), "packed": plan.packed,
            },
            "scheduler": {"kind": self.cfg.training.scheduler, "step": self.step},
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "dropped_tokens": self.dropped_tokens,
            "elapsed_s": self._elapsed(),
            "last_loss": self.last_loss,
        }
        optimizer_state = {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict() if self.scaler else None}

        def write(folder: Path) -> None:
            modeling.save_trainable(self.model, folder / folder_name)
            write_training_state(folder, optimizer_state, state)

        meta = {"config": self.cfg.as_dict(), "data_fingerprint": self.fingerprint}
        with self._guard("save"):
            self.last_checkpoint = write_checkpoint(self.run_dir, self.step, write, meta, self.cfg.training.keep_checkpoints)
        self.emitter.emit("checkpoint", id=self.id, step=self.step, path=str(self.last_checkpoint))

    def _finish_completed(self) -> None:
        name = "model" if self.cfg.finetune == "full" else "adapter"
        self._progress("save", 0, 1, "folder", f"Saving the {name} to {self.run_dir / 'outputs' / name}")
        with self._guard("save"):
            out = modeling.save_output(self.model, self.tokenizer, self.run_dir, name)
        self._progress("save", 1, 1, "folder", f"Saved {out}", eta=0)
        result = {f"{name}_path": str(out), "steps": self.step, "final_loss": self.last_loss, "checkpoint": str(self.last_checkpoint)}
        self.emitter.emit("done", id=self.id, status="completed", result=result)

    def _finish_cancelled(self) -> None:
        if self.step > 0 and (self.last_checkpoint is None or self.last_checkpoint.name != step_name(self.step)):
            self._checkpoint()
        result = {"steps": self.step, "checkpoint": str(self.last_checkpoint) if self.last_checkpoint else None}
        self.emitter.emit("done", id=self.id, status="cancelled", result=result)

    # ---------------------------------------------------------------- helpers

    @contextlib.contextmanager
    def _guard(self, phase: str):
        try:
            yield
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise out_of_memory(phase, self.device.type, self.last_checkpoint) from None

    def _elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def _progress(self, phase: str, current: float, total: float | None, unit: str, message: str, eta: float | None = None) -> None:
        self.emitter.emit(
            "progress", id=self.id, phase=phase, current=current, total=total, unit=unit,
            elapsed_s=round(time.monotonic() - self.t0, 3), eta_s=eta, message=message,
        )

    def _log(self, level: str, message: str) -> None:
        self.emitter.log(self.id, level, message)
