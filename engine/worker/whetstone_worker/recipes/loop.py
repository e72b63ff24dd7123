"""The one training loop every recipe runs in, and the job's shared components.

A recipe (sft.py, preference.py) owns its data, its model and its loss; the loop owns what is the
same for all of them: picking the checkpoint to resume from, seeding and the tokenizer, the
optimizer and its step, the learning-rate schedule, the OOM guard, progress and metrics events,
checkpoints (written and restored with the counters as one TrainState, state.py) and finishing a
run. The loop calls only the recipe's public API (`Recipe` below) and the recipe calls only the
loop's public methods, so neither reaches into the other and no base class sits between them
(torchtune's rule: recipes share components, not implementation).

    run:   [resume: checkpoint, its config wins] → recipe.setup(checkpoint) → [resume: restore]
    train: per optimizer step: lr → recipe.train_step() (forward/backward of the micro-batches)
           → clip, AdamW → counters → [due: recipe.evaluate()] → metrics → [due: checkpoint]
    end:   save recipe.output() → done;  a cancel: checkpoint the steps since the last one → done
"""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch

from .. import distributed, modeling
from ..checkpoint import folder_size, read_training_state, restore_rng, sha256_file, step_name, write_checkpoint, write_training_state
from ..config import RunConfig, TrainingConfig
from ..data.batches import Plan
from ..device import Precision, choose_precision, pick_device
from ..errors import WorkerError, disk_full, free_bytes, is_disk_full, out_of_memory
from ..neftune import NEFTune
from ..protocol import Emitter
from ..runfiles import append_lines
from ..schedule import lr_at
from .state import TrainState, find_checkpoint

# Metrics rows kept for an engine that dies: rows it had not read are written to the run by the worker.
RECENT_ROWS = 1024


@dataclass
class Step:
    """What a recipe's train_step reports about the optimizer step it accumulated."""

    loss: float  # the step's loss, as reported in metrics
    tokens: int  # real tokens through the policy
    trained: int  # tokens the loss was computed on
    dropped: int  # tokens goldfish left out
    efficiency: float  # real tokens / (rows × max_length)
    lines: list[int]  # the data lines of the step (named when its gradient is not finite)
    stats: dict[str, float] = field(default_factory=dict)  # the recipe's own metrics


class Recipe(Protocol):
    """What the loop calls on a recipe; everything else on it is the recipe's own business."""

    model: Any  # the policy: its trainable weights go into checkpoints
    plan: Plan  # the step-indexed data plan (set by setup)
    label: str  # shown in "Training{label} for N steps", e.g. " (dpo)"
    knobs: str  # the first advice when the loss or gradient is not finite

    def setup(self, checkpoint: Path | None) -> bool:
        """Tokenizer (loop.begin), data, model and optimizer (loop.attach_optimizer), resuming from
        `checkpoint`'s weights where they are the model's starting point; False when the job was
        cancelled before the model was built."""

    def train_step(self) -> Step:
        """Forward and backward over the micro-batches of optimizer step loop.state.step,
        accumulating gradients scaled for the whole step (with loop.scaler when set)."""

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics (val_…), {} without held-out data; must not use the RNG."""

    def save_extra(self, folder: Path) -> None:
        """The recipe's own checkpoint files, beside the weights, optimizer, RNG and TrainState."""

    def load_extra(self, folder: Path) -> None:
        """Read them back (KeyError or OSError: the checkpoint is corrupt)."""

    def output(self) -> Any:
        """What outputs/ holds at the end: anything with save_pretrained (usually the model)."""


def adamw(params: list[torch.nn.Parameter], train: TrainingConfig) -> torch.optim.AdamW:
    groups = [  # no weight decay on norms and biases, as usual
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": train.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=train.learning_rate, betas=(train.adam_beta1, train.adam_beta2), eps=train.adam_epsilon
    )


def output_name(cfg: RunConfig) -> str:
    return "model" if cfg.finetune == "full" else "adapter"


class Loop:
    """One training job: its identity, configuration, counters and the components recipes share."""

    precision: Precision  # set by choose_precision()
    tokenizer: Any  # set by begin()
    pad_id: int
    neftune: NEFTune  # set by attach_optimizer()
    embed_dim: int
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None

    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.run_dir, self.cfg, self.emitter, self.cancelled = job_id, run_dir, config, emitter, cancelled
        self.t0 = time.monotonic()  # when this worker started on the run (progress timing)
        self.device = pick_device()
        self.state = TrainState()
        self.resumed: tuple[Path, dict] | None = None  # (checkpoint, manifest) this job resumes from
        self.fingerprint: str | None = None
        self.recent_rows: deque[dict] = deque(maxlen=RECENT_ROWS)
        self.sharded: distributed.Sharded | None = None  # a full fine-tune on several ranks: the FSDP2 root (attach_optimizer)

    # ---------------------------------------------------------------- messages

    def log(self, level: str, message: str) -> None:
        self.emitter.log(self.id, level, message)

    def progress(self, phase: str, current: float, total: float | None, unit: str, message: str, eta: float | None = None) -> None:
        self.emitter.emit("progress", id=self.id, phase=phase, current=current, total=total, unit=unit,
                          elapsed_s=round(time.monotonic() - self.t0, 3), eta_s=eta, message=message)

    @contextlib.contextmanager
    def guard(self, phase: str):
        """Out-of-memory in `phase` becomes a WorkerError naming the phase and the last good checkpoint."""
        try:
            yield
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise out_of_memory(phase, self.device.type, self.state.last_checkpoint) from None

    def autocast(self):
        p = self.precision
        return torch.autocast(self.device.type, dtype=p.autocast) if p.autocast else contextlib.nullcontext()

    def elapsed(self) -> float:
        return self.state.elapsed_before + time.monotonic() - self.t0

    def non_finite_error(self, what: str, lines: list[int], knobs: str) -> WorkerError:
        """NON_FINITE_LOSS naming the step, the data lines and the last good checkpoint; `knobs` is the
        recipe's first advice (the learning rate, and what else drives its loss)."""
        last = self.state.last_checkpoint
        where = f" The last good checkpoint is {last}." if last else ""
        return WorkerError(
            "NON_FINITE_LOSS",
            f"{what} at step {self.state.step + 1} (data lines {', '.join(str(n) for n in lines[:8])}).{where}",
            f"Lower {knobs}, keep training.max_grad_norm set, or use bf16/fp32 instead of fp16; "
            "then start a new run (resuming repeats the same step).",
            recoverable=False,
        )

    # ---------------------------------------------------------------- set-up, for recipes

    def choose_precision(self) -> Precision:
        cfg = self.cfg
        self.precision = choose_precision(cfg.training.precision, cfg.model.dtype, cfg.finetune, self.device)
        return self.precision

    def begin(self) -> None:
        """Common setup before the data: precision, the model folder exists, the data fingerprint (warned
        about when a resumed checkpoint saw other data), the seeds, and the tokenizer (and pad_id)."""
        cfg, seed = self.cfg, self.cfg.training.seed
        self.choose_precision()
        modeling.check_model_dir(cfg.model.path, trust_remote_code=cfg.model.trust_remote_code)  # before any tokenizing
        self.fingerprint = sha256_file(Path(cfg.data.train)) if Path(cfg.data.train).is_file() else None
        if self.resumed and self.resumed[1].get("data_fingerprint") != self.fingerprint:
            self.log("warning", "The training data changed since the checkpoint was written; the resumed run will not match the original.")
        if cfg.training.threads is not None:  # trials side by side on a CPU share its cores (a sweep sets this)
            torch.set_num_threads(cfg.training.threads)
            self.log("info", f"CPU threads: {torch.get_num_threads()} (training.threads)")
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.progress("load", 0, 2, "step", f"Loading the tokenizer from {cfg.model.path}")
        self.tokenizer = modeling.load_tokenizer(cfg.model.path, cfg.model.trust_remote_code)
        self.pad_id = modeling.pad_id(self.tokenizer)

    def attach_optimizer(self, model) -> str:
        """Attach NEFTune, build AdamW (and the fp16 grad scaler) over the trainable parameters; returns
        the "N of M parameters trainable (LoRA r=… | full fine-tuning)" summary."""
        train = self.cfg.training
        self.neftune = NEFTune(train.neftune_alpha).attach(model)
        self.embed_dim = model.get_input_embeddings().embedding_dim
        if distributed.current() is not None and self.cfg.finetune == "full":  # LoRA replicates the model instead
            self.sharded = distributed.shard_model(model, self.device)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = adamw(self.params, train)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision.grad_scaler else None
        trainable, total = modeling.count_parameters(model)
        what = f"LoRA r={self.cfg.lora.r}" if self.cfg.finetune != "full" else "full fine-tuning"
        if self.sharded is not None:
            what += f", sharded over {distributed.current().size} processes (FSDP2)"
        return f"{trainable:,} of {total:,} parameters trainable ({what})"

    @property
    def load_device(self) -> torch.device:
        """Where the policy's weights are loaded: a full fine-tune about to be sharded loads on the CPU,
        and fully_shard moves each decoder layer to the GPU and keeps its shard (loading the whole model
        onto each GPU first would need a whole fp32 copy per GPU for a moment)."""
        return torch.device("cpu") if distributed.current() is not None and self.cfg.finetune == "full" else self.device

    # ---------------------------------------------------------------- forward and backward, for recipes

    def call(self, model, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(model, *args)`: a forward pass of `model` (the policy), through the FSDP2 root when the
        model is sharded, so its parameters are gathered for the pass and their gradients reduced after."""
        return self.sharded(fn, *args) if self.sharded is not None else fn(model, *args)

    def my_share(self, items: list) -> Iterator[tuple[Any, bool]]:
        """This rank's share of a step's micro-batches as (item, counts) pairs: every W-th, starting at
        its rank (all of them on one process). A sharded model's forward and backward are collectives, so
        there every rank takes the same number: a rank short of one repeats the step's first micro-batch
        with counts False (its loss goes backward times 0 and is not counted), and the gradients are
        reduce-scattered after every backward into each rank's shard: holding them whole until the last
        micro-batch would save communication but cost a whole fp32 copy of the gradients per GPU."""
        world = distributed.current()
        mine = [(item, True) for item in distributed.shard(items, world)]
        if self.sharded is not None:
            mine += [(items[0], False)] * (-(-len(items) // world.size) - len(mine))
        yield from mine

    def backward(self, loss: torch.Tensor, counts: bool = True) -> None:
        """Backward of a micro-batch's loss, already scaled for the whole step (grad scaler when fp16).
        A sharded model's gradients are averaged over the W ranks, and the step's loss is their sum, so
        it goes backward times W; a padding micro-batch (`counts` False) times 0."""
        if self.sharded is not None:
            loss = loss * (distributed.current().size if counts else 0.0)
        with self.guard("backward"):
            (self.scaler.scale(loss) if self.scaler else loss).backward()

    # ---------------------------------------------------------------- the run

    def run(self, recipe: Recipe, resume: bool) -> None:
        world = distributed.current()
        if world is not None and not getattr(recipe, "distributed", False):
            raise WorkerError("CONFIG_INVALID", f"Training on {world.size} devices is available for methods sft, dpo, simpo and orpo so far; this run is {self.cfg.method}.",
                              "Set training.devices to 1 for this run.", recoverable=False)
        if world is not None:
            self.log("info", f"Training on {world.size} processes ({'NCCL' if self.device.type == 'cuda' else 'gloo'}), "
                             f"each forwarding its share of every step's micro-batches")
        self.resumed = self._resume_point() if resume else None
        checkpoint = self.resumed[0] if self.resumed else None
        if not recipe.setup(checkpoint):
            return self._finish_cancelled(recipe)
        if checkpoint is not None:
            self._restore(recipe, checkpoint)
        total = recipe.plan.total_steps
        state = self.state
        self.progress("train", state.step, total, "steps", f"Training{recipe.label} for {total - state.step} of {total} optimizer steps")
        state.start_session()
        while state.step < total:
            if self.cancelled():
                return self._finish_cancelled(recipe)
            self._step(recipe)
            if self._checkpoint_due(recipe.plan):
                self._save_checkpoint(recipe)
        self._finish_completed(recipe)

    def _resume_point(self) -> tuple[Path, dict] | None:
        """find_checkpoint for this job: (checkpoint, manifest) or None; the checkpoint's config replaces
        self.cfg. The `resuming` event tells the engine which checkpoint that is, and which were skipped."""
        skipped: list[dict] = []
        found = find_checkpoint(self.run_dir, self.cfg, self.log, skipped)
        if found is None:
            self.emitter.emit("resuming", id=self.id, step=0, path=None, skipped=skipped)
            return None
        path, manifest, self.cfg = found
        self.emitter.emit("resuming", id=self.id, step=int(manifest["step"]), path=str(path), skipped=skipped)
        return path, manifest

    def _restore(self, recipe: Recipe, path: Path) -> None:
        """Adapter weights (LoRA), the recipe's extra files, optimizer, scaler, the TrainState, and the
        RNG streams last (model construction must not disturb them)."""
        try:
            optimizer_state, rng, trainer_state = read_training_state(path)
            if self.cfg.finetune != "full":
                modeling.load_adapter_weights(recipe.model, path / "adapter")
            recipe.load_extra(path)
            if self.sharded is not None:  # each rank keeps its shard of the moments
                distributed.load_optimizer_state(recipe.model, self.optimizer, optimizer_state["optimizer"])
            else:
                self.optimizer.load_state_dict(optimizer_state["optimizer"])
            if self.scaler is not None and optimizer_state.get("scaler"):
                self.scaler.load_state_dict(optimizer_state["scaler"])
            state = TrainState.from_json(trainer_state, path)
        except WorkerError:
            raise
        except (KeyError, ValueError, RuntimeError, OSError, pickle.UnpicklingError) as err:
            raise WorkerError("CHECKPOINT_CORRUPT", f"{path} could not be restored: {err}",
                              "Delete that checkpoint folder to resume from the one before it, or start a new run.") from None
        restore_rng(rng)
        self.state = state
        self.log("info", f"Resumed from {path} at step {state.step} of {recipe.plan.total_steps}")

    # ---------------------------------------------------------------- one optimizer step

    def _step(self, recipe: Recipe) -> None:
        plan, train = recipe.plan, self.cfg.training
        lr = lr_at(self.state.step, plan.total_steps, train.learning_rate, train.scheduler, train.warmup_ratio, train.decay_ratio,
                   train.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        step = recipe.train_step()

        def non_finite(what: str) -> None:
            raise self.non_finite_error(what, step.lines, recipe.knobs)

        grad_norm = self._optimizer_step(non_finite)
        self.state.count_step(step.tokens, step.trained, step.dropped, step.loss)
        extra = recipe.evaluate() if self._checkpoint_due(plan) else {}
        self._emit_metrics(plan, lr, grad_norm, step.efficiency, **step.stats, **extra)

    def _optimizer_step(self, non_finite: Callable[[str], None]) -> float:
        """Unscale, clip, step and zero the gradients; returns the gradient norm. A non-finite norm
        without a grad scaler calls `non_finite(what)`, which raises (fp16's scaler skips such steps itself)."""
        with self.guard("optimizer"):
            if distributed.current() is not None and self.sharded is None:  # the step's gradient: every rank's share, summed
                distributed.all_reduce_grads(self.params)
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.training.max_grad_norm or math.inf)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # sharded: the global norm
            if self.scaler:
                self.scaler.step(self.optimizer)  # skips the update itself when fp16 gradients overflowed
                self.scaler.update()
            elif not math.isfinite(grad_norm):
                non_finite(f"The gradient norm became {grad_norm}")
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _checkpoint_due(self, plan: Plan) -> bool:
        return self.state.step % self.cfg.training.checkpoint_every == 0 or self.state.step == plan.total_steps

    def _emit_metrics(self, plan: Plan, lr: float, grad_norm: float, packing_efficiency: float, **extra: float) -> None:
        s = self.state
        session = max(time.monotonic() - s.session_start, 1e-9)
        total = plan.total_steps
        consumed = min(s.step * plan.accumulation, plan.total_micro)
        message = self.emitter.emit(
            "metrics", id=self.id, step=s.step, total_steps=total, epoch=round(plan.epoch_float(consumed), 6),
            loss=s.last_loss, lr=lr, grad_norm=grad_norm if math.isfinite(grad_norm) else None, tokens=s.tokens,
            tokens_per_s=round(s.session_tokens / session, 3), elapsed_s=round(self.elapsed(), 3),
            eta_s=round((total - s.step) * session / s.session_steps, 3),
            trained_tokens=s.trained_tokens,  # tokens the loss was computed on (after goldfish drops)
            dropped_tokens=s.dropped_tokens,  # trained tokens goldfish left out, cumulative
            packing_efficiency=round(packing_efficiency, 6),  # real tokens / (rows × max_length) of this step
            **extra,
        )
        self.recent_rows.append({k: v for k, v in message.items() if k not in ("v", "type", "id") and (v is None or isinstance(v, (int, float)))})

    # ---------------------------------------------------------------- checkpoints and the end

    def _save_checkpoint(self, recipe: Recipe) -> None:
        """checkpoints/step-N: the trainable weights (adapter or model), optimizer, RNG, the TrainState
        and the recipe's extra files; then the checkpoint event. On several ranks rank 0 writes it (the
        weights and optimizer are the same on all) and the others wait for it."""
        s = self.state
        world = distributed.current()
        weights, moments = None, None
        if self.sharded is not None:  # gathered onto rank 0 (collectives: every rank takes part)
            weights, moments = distributed.full_state(recipe.model), distributed.full_optimizer_state(recipe.model, self.optimizer)
        if world is not None and not world.main:
            distributed.barrier()
            s.last_checkpoint = self.run_dir / "checkpoints" / step_name(s.step)
            return
        trainer_state = s.to_json(recipe.plan, self.cfg.training.scheduler, self.elapsed())
        optimizer_state = {"optimizer": moments if moments is not None else self.optimizer.state_dict(),
                           "scaler": self.scaler.state_dict() if self.scaler else None}

        def write(folder: Path) -> None:
            modeling.save_trainable(recipe.model, folder / output_name(self.cfg), weights)
            write_training_state(folder, optimizer_state, trainer_state)
            recipe.save_extra(folder)

        meta = {"config": self.cfg.as_dict(), "data_fingerprint": self.fingerprint}
        folder = self.run_dir / "checkpoints"
        needed = self._expected_checkpoint_bytes()
        free = free_bytes(folder)
        if free is not None and free < needed:  # refuse before writing: a checkpoint that cannot finish only fills the disk
            raise disk_full(folder, f"the checkpoint for step {s.step}", s.last_checkpoint, needed)
        try:
            with self.guard("save"):
                s.last_checkpoint = write_checkpoint(self.run_dir, s.step, write, meta, self.cfg.training.keep_checkpoints)
        except Exception as err:  # safetensors raises its own SafetensorError, torch.save a RuntimeError
            if not is_disk_full(err, folder):
                raise
            raise disk_full(folder, f"the checkpoint for step {s.step}", s.last_checkpoint) from None
        if world is not None:
            distributed.barrier()
        self.emitter.emit("checkpoint", id=self.id, step=s.step, path=str(s.last_checkpoint))

    def _expected_checkpoint_bytes(self) -> int:
        """The size the next checkpoint will take: the last one's (the same tensors), else the trainable
        weights plus AdamW's two moments in fp32, with 10% and 1 MB to spare for the small files."""
        last = self.state.last_checkpoint
        if last is not None and last.is_dir():
            size = folder_size(last)
        else:
            size = sum(p.numel() * (p.element_size() + 8) for p in self.params)
        return int(size * 1.1) + (1 << 20)

    def _finish_completed(self, recipe: Recipe) -> None:
        """Save outputs/adapter or outputs/model atomically (recipe.output()) and emit done (rank 0's to do)."""
        s, name = self.state, output_name(self.cfg)
        world = distributed.current()
        weights = distributed.full_state(recipe.model) if self.sharded is not None else None  # a collective
        if world is not None and not world.main:
            return
        self.progress("save", 0, 1, "folder", f"Saving the {name} to {self.run_dir / 'outputs' / name}")
        try:
            with self.guard("save"):
                out = modeling.save_output(recipe.output(), self.tokenizer, self.run_dir, name, weights)
        except Exception as err:  # safetensors raises its own SafetensorError, torch.save a RuntimeError
            if not is_disk_full(err, self.run_dir / "outputs"):
                raise
            raise disk_full(self.run_dir / "outputs", f"the finished {name}", s.last_checkpoint) from None
        self.progress("save", 1, 1, "folder", f"Saved {out}", eta=0)
        result = {f"{name}_path": str(out), "steps": s.step, "final_loss": s.last_loss, "checkpoint": str(s.last_checkpoint)}
        self._record_if_orphaned(f"finished all {s.step} steps and saved {out}")
        self.emitter.emit("done", id=self.id, status="completed", result=result)

    def _finish_cancelled(self, recipe: Recipe) -> None:
        """Checkpoint the steps done since the last checkpoint (so resume loses nothing), then done."""
        s = self.state
        if s.step > 0 and (s.last_checkpoint is None or s.last_checkpoint.name != step_name(s.step)):
            self._save_checkpoint(recipe)
        result = {"steps": s.step, "checkpoint": str(s.last_checkpoint) if s.last_checkpoint else None}
        self._record_if_orphaned(f"stopped with a checkpoint at step {s.step}")
        self.emitter.emit("done", id=self.id, status="cancelled", result=result)

    def _record_if_orphaned(self, what: str) -> None:
        """The engine died (nobody reads our events): append the recent metrics rows to the run's
        metrics.jsonl and a line to its log.txt ourselves, so the steps this worker trained after the
        engine's death, which the checkpoint includes, are not missing from the run's history. Rows the
        engine did record appear twice; readers keep the last line per step, and both lines are equal."""
        if not self.emitter.closed:
            return
        try:
            append_lines(self.run_dir / "metrics.jsonl", [json.dumps(row, allow_nan=False) for row in self.recent_rows])
            append_lines(self.run_dir / "log.txt", [f"[worker] The engine that ran this job is gone; {what}. Resume the run to continue."])
        except (OSError, ValueError):
            pass  # the checkpoint is what matters; it is written
