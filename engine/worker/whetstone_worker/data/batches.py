"""Deterministic micro-batch order, the step ↔ data position mapping, and padding.

The training data is one endless stream of micro-batches: epoch e is a permutation of the samples
drawn from a generator seeded with (seed, e), cut into consecutive micro-batches of
micro_batch_size (the last one of an epoch may be short). Optimizer step k consumes stream entries
[k·A, (k+1)·A) where A is gradient_accumulation; a step may straddle an epoch boundary.

Because the order is a pure function of (seed, epoch), the data position is just a counter: resume
needs no iterator state, only the number of micro-batches consumed, and the checkpoint records it
as (epoch, index in epoch) for humans. Fractional epochs cut the stream after ceil(epochs·M)
micro-batches (M per epoch); max_steps, when set, overrides epochs. The cost of a continuous stream:
an "epoch" in metrics is a float (micro-batches consumed / M), not a loop boundary.

Micro-batches are right-padded to their longest sample: with causal attention a real token never
attends to a later pad, so padding cannot change the loss, and labels of pads are -100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .chat import Sample

IGNORE = -100


@dataclass(frozen=True)
class Plan:
    n_samples: int
    micro_batch_size: int
    accumulation: int
    seed: int
    total_micro: int  # micro-batches in the whole run
    total_steps: int  # optimizer steps in the whole run

    @property
    def micro_per_epoch(self) -> int:
        return math.ceil(self.n_samples / self.micro_batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        return _permutation(self.n_samples, self.seed, epoch)

    def micro_batch(self, g: int) -> list[int]:
        """Sample indices of global micro-batch g."""
        epoch, index = self.position(g)
        start = index * self.micro_batch_size
        return self.epoch_order(epoch)[start : start + self.micro_batch_size].tolist()

    def step_micro(self, step: int) -> range:
        """Global micro-batch indices consumed by optimizer step `step` (0-based)."""
        return range(step * self.accumulation, min((step + 1) * self.accumulation, self.total_micro))

    def position(self, g: int) -> tuple[int, int]:
        """(epoch, micro-batch index within the epoch) of global micro-batch g."""
        return divmod(g, self.micro_per_epoch)

    def epoch_float(self, consumed: int) -> float:
        return consumed / self.micro_per_epoch


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    # SeedSequence mixes (seed, epoch) properly; seed + epoch would make run (s, e+1) == run (s+1, e).
    return np.random.default_rng(np.random.SeedSequence([seed, epoch])).permutation(n)


def make_plan(n_samples: int, micro_batch_size: int, accumulation: int, epochs: float, max_steps: int | None, seed: int) -> Plan:
    per_epoch = math.ceil(n_samples / micro_batch_size)
    if max_steps is not None:
        total_micro = max_steps * accumulation
    else:
        # round() first: 3 × 28 computed as 84.00000000001 must not become 85 micro-batches.
        total_micro = max(1, math.ceil(round(epochs * per_epoch, 6)))
    total_steps = math.ceil(total_micro / accumulation)
    return Plan(n_samples, micro_batch_size, accumulation, seed, total_micro, total_steps)


def collate(samples: list[Sample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sample: input_ids, attention_mask, labels (IGNORE where untrained)."""
    width = max(len(s.ids) for s in samples)
    ids = np.full((len(samples), width), pad_id, dtype=np.int64)
    labels = np.full((len(samples), width), IGNORE, dtype=np.int64)
    mask = np.zeros((len(samples), width), dtype=np.int64)
    for row, s in enumerate(samples):
        n = len(s.ids)
        ids[row, :n] = s.ids
        labels[row, :n] = np.where(s.trained, s.ids, IGNORE)
        mask[row, :n] = 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask), "labels": torch.from_numpy(labels)}
