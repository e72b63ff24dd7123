"""Pieces every training recipe shares, as functions (recipes share components, not a base class):
picking the checkpoint to resume from, seeding, the optimizer and its step, the OOM guard, the
progress and metrics events, checkpoint state (write and restore), and finishing a run.

The functions that take a recipe read and update the loop's counters on it; `Loop` names exactly
which attributes those are, so a recipe is any object that has them (no base class)."""

from __future__ import annotations

import collections
import contextlib
import json
import math
import pickle
import random
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch

from .. import modeling
from ..checkpoint import folder_size, latest_valid, read_training_state, restore_rng, sha256_file, step_name, write_checkpoint, write_training_state
from ..config import RunConfig, TrainingConfig, diff, parse_run_config
from ..data.batches import Plan
from ..device import choose_precision, pick_device
from ..errors import WorkerError, disk_full, free_bytes, is_disk_full, out_of_memory
from ..neftune import NEFTune
from ..protocol import Emitter
from ..schedule import lr_at
from ..validate import Invalid


def find_checkpoint(run_dir: Path, config: RunConfig, log: Callable[[str, str], None],
                    skipped: list[dict] | None = None) -> tuple[Path, dict, RunConfig] | None:
    """(newest valid checkpoint, its manifest, its config) or None. The checkpoint's config wins;
    each field the resume command changes gets a warning saying so. Checkpoints that do not verify
    are appended to `skipped` as {name, reason}."""

    def skip(name: str, why: str) -> None:
        log("warning", f"Ignoring checkpoint {name}: {why}.")
        if skipped is not None:
            skipped.append({"name": name, "reason": why})

    found = latest_valid(run_dir, on_skip=skip)
    if found is None:
        log("warning", f"No valid checkpoint in {run_dir / 'checkpoints'}; starting the run from scratch.")
        return None
    path, manifest = found
    try:
        stored = parse_run_config(manifest["config"], "checkpoint config")
    except (Invalid, KeyError) as err:
        raise WorkerError("CHECKPOINT_CORRUPT", f"{path}: the stored config is not valid ({err}).", "Start a new run.") from None
    for field, old, new in diff(manifest["config"], config.as_dict()):
        log("warning", f"Config field {field}: the checkpoint has {old!r}, the resume command has {new!r}; the checkpoint's value wins.")
    return path, manifest, stored


def adamw(params: list[torch.nn.Parameter], train: TrainingConfig) -> torch.optim.AdamW:
    groups = [  # no weight decay on norms and biases, as usual
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": train.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=train.learning_rate, betas=(train.adam_beta1, train.adam_beta2), eps=train.adam_epsilon
    )


@contextlib.contextmanager
def oom_guard(phase: str, device: torch.device, last_checkpoint: Path | None):
    """Out-of-memory in `phase` becomes a WorkerError naming the phase and the last good checkpoint."""
    try:
        yield
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise out_of_memory(phase, device.type, last_checkpoint) from None


def emit_progress(emitter: Emitter, job_id: str, t0: float, phase: str, current: float, total: float | None, unit: str,
                  message: str, eta: float | None = None) -> None:
    emitter.emit("progress", id=job_id, phase=phase, current=current, total=total, unit=unit,
                 elapsed_s=round(time.monotonic() - t0, 3), eta_s=eta, message=message)


class Loop(Protocol):
    """What the loop functions below read and update on a recipe."""

    id: str
    run_dir: Path
    cfg: RunConfig
    emitter: Emitter
    cancelled: Callable[[], bool]
    t0: float  # when this worker started on the run (progress timing)
    device: torch.device
    plan: Plan
    precision: Any  # device.Precision, set by begin()
    model: Any
    tokenizer: Any
    pad_id: int
    neftune: NEFTune
    embed_dim: int
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    params: list[torch.nn.Parameter]
    fingerprint: str | None
    last_checkpoint: Path | None
    step: int
    tokens: int
    trained_tokens: int
    dropped_tokens: int
    elapsed_before: float
    last_loss: float | None
    session_start: float
    session_steps: int
    session_tokens: int

    def _train_step(self) -> None: ...
    def _checkpoint(self) -> None: ...
    def _finish_completed(self) -> None: ...


def init_state(r: Loop, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]) -> None:
    """The job's identity and the loop's counters at zero, before setup (or a restore) fills them."""
    r.id, r.run_dir, r.cfg, r.emitter, r.cancelled = job_id, run_dir, config, emitter, cancelled
    r.t0 = time.monotonic()
    r.device = pick_device()
    r.last_checkpoint = None
    r.step = r.tokens = r.trained_tokens = r.dropped_tokens = 0
    r.elapsed_before = 0.0  # training time spent by earlier workers on this run
    r.last_loss = None


def resume_point(r: Loop) -> tuple[Path, dict] | None:
    """find_checkpoint for a recipe: (checkpoint, manifest) or None; the checkpoint's config replaces
    r.cfg. The `resuming` event tells the engine which checkpoint that is, and which were skipped."""
    skipped: list[dict] = []
    found = find_checkpoint(r.run_dir, r.cfg, lambda level, message: log(r, level, message), skipped)
    if found is None:
        r.emitter.emit("resuming", id=r.id, step=0, path=None, skipped=skipped)
        return None
    path, manifest, r.cfg = found
    r.emitter.emit("resuming", id=r.id, step=int(manifest["step"]), path=str(path), skipped=skipped)
    return path, manifest


def guard(r: Loop, phase: str):
    return oom_guard(phase, r.device, r.last_checkpoint)


def elapsed(r: Loop) -> float:
    return r.elapsed_before + time.monotonic() - r.t0


def progress(r: Loop, phase: str, current: float, total: float | None, unit: str, message: str, eta: float | None = None) -> None:
    emit_progress(r.emitter, r.id, r.t0, phase, current, total, unit, message, eta)


def log(r: Loop, level: str, message: str) -> None:
    r.emitter.log(r.id, level, message)


def begin(r: Loop, found: tuple[Path, dict] | None) -> None:
    """Common setup before the data: precision, the model folder exists, the data fingerprint (warned
    about when a resumed checkpoint saw other data), the seeds, and the tokenizer (r.tokenizer, r.pad_id)."""
    cfg, seed = r.cfg, r.cfg.training.seed
    r.precision = choose_precision(cfg.training.precision, cfg.model.dtype, cfg.finetune, r.device)
    modeling.check_model_dir(cfg.model.path, trust_remote_code=cfg.model.trust_remote_code)  # before any tokenizing
    r.fingerprint = sha256_file(Path(cfg.data.train)) if Path(cfg.data.train).is_file() else None
    if found and found[1].get("data_fingerprint") != r.fingerprint:
        log(r, "warning", "The training data changed since the checkpoint was written; the resumed run will not match the original.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    progress(r, "load", 0, 2, "step", f"Loading the tokenizer from {cfg.model.path}")
    r.tokenizer = modeling.load_tokenizer(cfg.model.path, cfg.model.trust_remote_code)
    r.pad_id = modeling.pad_id(r.tokenizer)


def prepare_optimizer(r: Loop, model) -> str:
    """Attach NEFTune, build AdamW (and the fp16 grad scaler) over the trainable parameters; returns
    the "N of M parameters trainable (LoRA r=… | full fine-tuning)" summary."""
    train = r.cfg.training
    r.neftune = NEFTune(train.neftune_alpha).attach(model)
    r.embed_dim = model.get_input_embeddings().embedding_dim
    r.params = [p for p in model.parameters() if p.requires_grad]
    r.optimizer = adamw(r.params, train)
    r.scaler = torch.amp.GradScaler(r.device.type) if r.precision.grad_scaler else None
    trainable, total = modeling.count_parameters(model)
    what = f"LoRA r={r.cfg.lora.r}" if r.cfg.finetune != "full" else "full fine-tuning"
    return f"{trainable:,} of {total:,} parameters trainable ({what})"


def restore(r: Loop, path: Path, extra: Callable[[Path], None] | None = None) -> None:
    """Restore a checkpoint into the built recipe: adapter weights (LoRA), `extra` recipe state,
    optimizer, scaler, counters, and the RNG streams last (model construction must not disturb them)."""
    try:
        optimizer_state, rng, state = read_training_state(path)
        if r.cfg.finetune != "full":
            modeling.load_adapter_weights(r.model, path / "adapter")
        if extra is not None:
            extra(path)
        r.optimizer.load_state_dict(optimizer_state["optimizer"])
        if r.scaler is not None and optimizer_state.get("scaler"):
            r.scaler.load_state_dict(optimizer_state["scaler"])
        r.step, r.tokens, r.trained_tokens = state["step"], state["tokens"], state["trained_tokens"]
        r.dropped_tokens = state.get("dropped_tokens", 0)  # absent in checkpoints written before goldfish
        r.elapsed_before, r.last_loss = state["elapsed_s"], state["last_loss"]
    except WorkerError:
        raise
    except (KeyError, ValueError, RuntimeError, OSError, pickle.UnpicklingError) as err:
        raise WorkerError("CHECKPOINT_CORRUPT", f"{path} could not be restored: {err}",
                          "Delete that checkpoint folder to resume from the one before it, or start a new run.") from None
    restore_rng(rng)
    r.last_checkpoint = path
    log(r, "info", f"Resumed from {path} at step {r.step} of {r.plan.total_steps}")


def train_loop(r: Loop, what: str) -> None:
    """Steps until the plan's end (checkpoints when due), then finish; a cancel stops between steps."""
    total = r.plan.total_steps
    progress(r, "train", r.step, total, "steps", f"Training{what} for {total - r.step} of {total} optimizer steps")
    r.session_start, r.session_steps, r.session_tokens = time.monotonic(), 0, 0
    while r.step < total:
        if r.cancelled():
            return finish_cancelled(r)
        r._train_step()
        if checkpoint_due(r):
            r._checkpoint()
    r._finish_completed()


def set_lr(r: Loop) -> float:
    """The scheduled learning rate of the coming step, set on every parameter group."""
    train = r.cfg.training
    lr = lr_at(r.step, r.plan.total_steps, train.learning_rate, train.scheduler, train.warmup_ratio, train.decay_ratio, train.min_lr_ratio)
    for group in r.optimizer.param_groups:
        group["lr"] = lr
    return lr


def optimizer_step(r: Loop, non_finite: Callable[[str], None]) -> float:
    """Unscale, clip, step and zero the gradients; returns the gradient norm. A non-finite norm
    without a grad scaler calls `non_finite(what)`, which raises (fp16's scaler skips such steps itself)."""
    with guard(r, "optimizer"):
        if r.scaler:
            r.scaler.unscale_(r.optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(r.params, r.cfg.training.max_grad_norm or math.inf))
        if r.scaler:
            r.scaler.step(r.optimizer)  # skips the update itself when fp16 gradients overflowed
            r.scaler.update()
        elif not math.isfinite(grad_norm):
            non_finite(f"The gradient norm became {grad_norm}")
        else:
            r.optimizer.step()
        r.optimizer.zero_grad(set_to_none=True)
    return grad_norm


def count_step(r: Loop, step_tokens: int, trained: int, dropped: int, loss: float) -> None:
    r.step += 1
    r.tokens += step_tokens
    r.trained_tokens += trained
    r.dropped_tokens += dropped
    r.session_steps += 1
    r.session_tokens += step_tokens
    r.last_loss = loss


def checkpoint_due(r: Loop) -> bool:
    return r.step % r.cfg.training.checkpoint_every == 0 or r.step == r.plan.total_steps


# Metrics rows kept for an engine that dies: rows it had not read are written to the run by the worker.
RECENT_ROWS = 1024


def emit_metrics(r: Loop, lr: float, grad_norm: float, packing_efficiency: float, **extra: float) -> None:
    session = max(time.monotonic() - r.session_start, 1e-9)
    total = r.plan.total_steps
    consumed = min(r.step * r.plan.accumulation, r.plan.total_micro)
    message = r.emitter.emit(
        "metrics", id=r.id, step=r.step, total_steps=total, epoch=round(r.plan.epoch_float(consumed), 6),
        loss=r.last_loss, lr=lr, grad_norm=grad_norm if math.isfinite(grad_norm) else None, tokens=r.tokens,
        tokens_per_s=round(r.session_tokens / session, 3), elapsed_s=round(elapsed(r), 3),
        eta_s=round((total - r.step) * session / r.session_steps, 3),
        trained_tokens=r.trained_tokens,  # tokens the loss was computed on (after goldfish drops)
        dropped_tokens=r.dropped_tokens,  # trained tokens goldfish left out, cumulative
        packing_efficiency=round(packing_efficiency, 6),  # real tokens / (rows × max_length) of this step
        **extra,
    )
    recent = r.__dict__.setdefault("recent_rows", collections.deque(maxlen=RECENT_ROWS))
    recent.append({k: v for k, v in message.items() if k not in ("v", "type", "id") and (v is None or isinstance(v, (int, float)))})


def record_if_orphaned(r: Loop, what: str) -> None:
    """The engine died (nobody reads our events): append the recent metrics rows to the run's
    metrics.jsonl and a line to its log.txt ourselves, so the steps this worker trained after the
    engine's death, which the checkpoint includes, are not missing from the run's history. Rows the
    engine did record appear twice; readers keep the last line per step, and both lines are equal."""
    if not r.emitter.closed:
        return
    try:
        with open(r.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            for row in r.__dict__.get("recent_rows", ()):
                f.write(json.dumps(row, allow_nan=False) + "\n")
        with open(r.run_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"[worker] The engine that ran this job is gone; {what}. Resume the run to continue.\n")
    except (OSError, ValueError):
        pass  # the checkpoint is what matters; it is written

def non_finite_error(r: Loop, what: str, lines: list[int], knobs: str) -> WorkerError:
    """NON_FINITE_LOSS naming the step, the data lines and the last good checkpoint; `knobs` is the
    recipe's first advice (the learning rate, and what else drives its loss)."""
    where = f" The last good checkpoint is {r.last_checkpoint}." if r.last_checkpoint else ""
    return WorkerError(
        "NON_FINITE_LOSS",
        f"{what} at step {r.step + 1} (data lines {', '.join(str(n) for n in lines[:8])}).{where}",
        f"Lower {knobs}, keep training.max_grad_norm set, or use bf16/fp32 instead of fp16; "
        "then start a new run (resuming repeats the same step).",
        recoverable=False,
    )


def save_checkpoint(r: Loop, packed: bool, extra: Callable[[Path], None] | None = None) -> None:
    """checkpoints/step-N: the trainable weights (adapter or model), optimizer, RNG, the counters and
    the data position, and `extra` recipe files; then the checkpoint event."""
    plan = r.plan
    consumed = min(r.step * plan.accumulation, plan.total_micro)
    epoch, index = plan.position(consumed)
    state = {
        "step": r.step,
        "total_steps": plan.total_steps,
        "data_position": {
            "epoch": epoch, "micro_batch": index, "micro_batches_consumed": consumed,
            "micro_batches_in_epoch": plan.micro_in_epoch(epoch), "packed": packed,
        },
        "scheduler": {"kind": r.cfg.training.scheduler, "step": r.step},
        "tokens": r.tokens,
        "trained_tokens": r.trained_tokens,
        "dropped_tokens": r.dropped_tokens,
        "elapsed_s": elapsed(r),
        "last_loss": r.last_loss,
    }
    optimizer_state = {"optimizer": r.optimizer.state_dict(), "scaler": r.scaler.state_dict() if r.scaler else None}

    def write(folder: Path) -> None:
        modeling.save_trainable(r.model, folder / output_name(r.cfg))
        write_training_state(folder, optimizer_state, state)
        if extra is not None:
            extra(folder)

    meta = {"config": r.cfg.as_dict(), "data_fingerprint": r.fingerprint}
    folder = r.run_dir / "checkpoints"
    needed = expected_checkpoint_bytes(r)
    free = free_bytes(folder)
    if free is not None and free < needed:  # refuse before writing: a checkpoint that cannot finish only fills the disk
        raise disk_full(folder, f"the checkpoint for step {r.step}", r.last_checkpoint, needed)
    try:
        with guard(r, "save"):
            r.last_checkpoint = write_checkpoint(r.run_dir, r.step, write, meta, r.cfg.training.keep_checkpoints)
    except Exception as err:  # safetensors raises its own SafetensorError, torch.save a RuntimeError
        if not is_disk_full(err):
            raise
        raise disk_full(folder, f"the checkpoint for step {r.step}", r.last_checkpoint) from None
    r.emitter.emit("checkpoint", id=r.id, step=r.step, path=str(r.last_checkpoint))


def expected_checkpoint_bytes(r: Loop) -> int:
    """The size the next checkpoint will take: the last one's (the same tensors), else the trainable
    weights plus AdamW's two moments in fp32, with 10% and 1 MB to spare for the small files."""
    if r.last_checkpoint is not None and r.last_checkpoint.is_dir():
        size = folder_size(r.last_checkpoint)
    else:
        size = sum(p.numel() * (p.element_size() + 8) for p in r.params)
    return int(size * 1.1) + (1 << 20)


def output_name(cfg: RunConfig) -> str:
    return "model" if cfg.finetune == "full" else "adapter"


def finish_completed(r: Loop, output=None) -> None:
    """Save outputs/adapter or outputs/model atomically (`output`: what to save, r.model by default;
    anything with save_pretrained) and emit done."""
    name = output_name(r.cfg)
    progress(r, "save", 0, 1, "folder", f"Saving the {name} to {r.run_dir / 'outputs' / name}")
    try:
        with guard(r, "save"):
            out = modeling.save_output(r.model if output is None else output, r.tokenizer, r.run_dir, name)
    except Exception as err:  # safetensors raises its own SafetensorError, torch.save a RuntimeError
        if not is_disk_full(err):
            raise
        raise disk_full(r.run_dir / "outputs", f"the finished {name}", r.last_checkpoint) from None
    progress(r, "save", 1, 1, "folder", f"Saved {out}", eta=0)
    result = {f"{name}_path": str(out), "steps": r.step, "final_loss": r.last_loss, "checkpoint": str(r.last_checkpoint)}
    record_if_orphaned(r, f"finished all {r.step} steps and saved {out}")
    r.emitter.emit("done", id=r.id, status="completed", result=result)


def finish_cancelled(r: Loop) -> None:
    """Checkpoint the steps done since the last checkpoint (so resume loses nothing), then done."""
    if r.step > 0 and (r.last_checkpoint is None or r.last_checkpoint.name != step_name(r.step)):
        r._checkpoint()
    result = {"steps": r.step, "checkpoint": str(r.last_checkpoint) if r.last_checkpoint else None}
    record_if_orphaned(r, f"stopped with a checkpoint at step {r.step}")
    r.emitter.emit("done", id=r.id, status="cancelled", result=result)


def autocast(r: Loop):
    p = r.precision
    return torch.autocast(r.device.type, dtype=p.autocast) if p.autocast else contextlib.nullcontext()
