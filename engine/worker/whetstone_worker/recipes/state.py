"""A run's training state: the loop's counters as one dataclass, saved into every checkpoint and
restored from it as a unit, and the choice of the checkpoint to resume from.

The counters go to the checkpoint's trainer_state.json with the data position and the schedule
derived from them (for people and tools that read the file; resume recomputes both from the step).
The session counters (this worker's tokens/s and ETA) and the last checkpoint's folder are not
saved: the first starts again with every worker, the second is the folder being read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..checkpoint import latest_valid
from ..config import RunConfig, diff, parse_run_config
from ..data.batches import Plan
from ..errors import WorkerError
from ..validate import Invalid


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    tokens: int = 0  # real (non-padding) tokens through the policy
    trained_tokens: int = 0  # tokens the loss was computed on (after goldfish drops)
    dropped_tokens: int = 0  # trained tokens goldfish left out
    elapsed_before: float = 0.0  # training time spent by earlier workers on this run
    last_loss: float | None = None
    last_checkpoint: Path | None = None
    session_start: float = field(default_factory=time.monotonic)
    session_steps: int = 0
    session_tokens: int = 0

    def count_step(self, tokens: int, trained: int, dropped: int, loss: float) -> None:
        self.step += 1
        self.tokens += tokens
        self.trained_tokens += trained
        self.dropped_tokens += dropped
        self.session_steps += 1
        self.session_tokens += tokens
        self.last_loss = loss

    def start_session(self) -> None:
        self.session_start, self.session_steps, self.session_tokens = time.monotonic(), 0, 0

    def to_json(self, plan: Plan, scheduler: str, elapsed: float) -> dict:
        """trainer_state.json: the counters, plus the data position and schedule they imply."""
        consumed = min(self.step * plan.accumulation, plan.total_micro)
        epoch, index = plan.position(consumed)
        return {
            "step": self.step,
            "total_steps": plan.total_steps,
            "data_position": {
                "epoch": epoch, "micro_batch": index, "micro_batches_consumed": consumed,
                "micro_batches_in_epoch": plan.micro_in_epoch(epoch), "packed": plan.packed,
            },
            "scheduler": {"kind": scheduler, "step": self.step},
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "dropped_tokens": self.dropped_tokens,
            "elapsed_s": elapsed,
            "last_loss": self.last_loss,
        }

    @classmethod
    def from_json(cls, data: dict, checkpoint: Path) -> TrainState:
        """The state trainer_state.json holds (KeyError when a field is missing); `checkpoint` is its folder."""
        return cls(
            step=data["step"], tokens=data["tokens"], trained_tokens=data["trained_tokens"],
            dropped_tokens=data.get("dropped_tokens", 0),  # absent in checkpoints written before goldfish
            elapsed_before=data["elapsed_s"], last_loss=data["last_loss"], last_checkpoint=checkpoint,
        )


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
    for field_name, old, new in diff(manifest["config"], config.as_dict()):
        log("warning", f"Config field {field_name}: the checkpoint has {old!r}, the resume command has {new!r}; the checkpoint's value wins.")
    return path, manifest, stored
