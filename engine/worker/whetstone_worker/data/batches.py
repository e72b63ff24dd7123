"""Deterministic micro-batch order, the step ↔ data position mapping, and padded batches.

The training data is one endless stream of micro-batches. Epoch e starts from a permutation of the
samples drawn from a generator seeded with (seed, e). Without packing each sample is a row of its
own; with packing the permutation is packed into rows of data.max_length tokens (packing.py).
Either way the epoch's rows are cut into consecutive micro-batches of micro_batch_size rows (the
last one of an epoch may be short). Optimizer step k consumes stream entries [k·A, (k+1)·A) where A
is gradient_accumulation; a step may straddle an epoch boundary.

Because the rows are a pure function of (seed, epoch), the data position is just a counter: resume
needs no iterator state, only the number of micro-batches consumed, and the checkpoint records it
as (epoch, index in epoch) for humans. Packed epochs may differ in their number of rows (M_e
micro-batches for epoch e), so the plan keeps lazily extended prefix sums of M_e; computing M_e
means packing epoch e, which costs a Python pass over its samples, far less than training on them.
Fractional epochs cut the stream after the whole epochs plus ceil(fraction·M_E) micro-batches of
the next; max_steps, when set, overrides epochs. The cost of a continuous stream: an "epoch" in
metrics is a float (e + micro-batches into epoch e / M_e), not a loop boundary.

Unpacked micro-batches are right-padded to their longest sample: with causal attention a real token
never attends to a later pad, so padding cannot change the loss, and labels of pads are IGNORE.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..losses.goldfish import goldfish_drop_mask
from .chat import IGNORE, Sample
from .packing import block_causal_mask, collate_packed, pack_rows

__all__ = ["IGNORE", "MicroBatch", "Plan", "collate", "make_micro_batch", "make_plan", "model_inputs", "sample_labels"]


class Plan:
    def __init__(self, n_samples: int, micro_batch_size: int, accumulation: int, seed: int,
                 lengths: np.ndarray | None = None, capacity: int | None = None):
        self.n_samples, self.micro_batch_size, self.accumulation, self.seed = n_samples, micro_batch_size, accumulation, seed
        self.packed = lengths is not None
        self.lengths, self.capacity = lengths, capacity
        self._starts = [0]  # _starts[e]: global index of epoch e's first micro-batch (extended lazily)
        self.total_micro = self.total_steps = 0  # set by make_plan

    def epoch_order(self, epoch: int) -> np.ndarray:
        return _permutation(self.n_samples, self.seed, epoch)

    def epoch_rows(self, epoch: int) -> list[list[int]]:
        """Sample indices of each row of `epoch`, in training order."""
        if not self.packed:
            return [[i] for i in self.epoch_order(epoch).tolist()]
        return _packed_rows(self, epoch)

    def rows_in_epoch(self, epoch: int) -> int:
        return len(self.epoch_rows(epoch)) if self.packed else self.n_samples

    def micro_in_epoch(self, epoch: int) -> int:
        return math.ceil(self.rows_in_epoch(epoch) / self.micro_batch_size)

    def micro_rows(self, g: int) -> list[list[int]]:
        """Rows (lists of sample indices) of global micro-batch g."""
        epoch, index = self.position(g)
        start = index * self.micro_batch_size
        return self.epoch_rows(epoch)[start : start + self.micro_batch_size]

    def micro_batch(self, g: int) -> list[int]:
        """Sample indices of global micro-batch g, flattened over its rows."""
        return [i for row in self.micro_rows(g) for i in row]

    def step_micro(self, step: int) -> range:
        """Global micro-batch indices consumed by optimizer step `step` (0-based)."""
        return range(step * self.accumulation, min((step + 1) * self.accumulation, self.total_micro))

    def epoch_start(self, epoch: int) -> int:
        while len(self._starts) <= epoch:
            e = len(self._starts) - 1
            self._starts.append(self._starts[-1] + self.micro_in_epoch(e))
        return self._starts[epoch]

    def position(self, g: int) -> tuple[int, int]:
        """(epoch, micro-batch index within the epoch) of global micro-batch g."""
        if not self.packed:
            return divmod(g, self.micro_in_epoch(0))
        while self._starts[-1] <= g:  # extend the prefix sums one epoch at a time
            self.epoch_start(len(self._starts))
        epoch = bisect.bisect_right(self._starts, g) - 1
        return epoch, g - self._starts[epoch]

    def epoch_float(self, consumed: int) -> float:
        if not self.packed:
            return consumed / self.micro_in_epoch(0)
        epoch, index = self.position(consumed)
        return epoch + index / self.micro_in_epoch(epoch) if index else float(epoch)


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    # SeedSequence mixes (seed, epoch) properly; seed + epoch would make run (s, e+1) == run (s+1, e).
    return np.random.default_rng(np.random.SeedSequence([seed, epoch])).permutation(n)


@lru_cache(maxsize=4)
def _packed_rows(plan: Plan, epoch: int) -> list[list[int]]:
    return pack_rows(plan.epoch_order(epoch), plan.lengths, plan.capacity)


def make_plan(n_samples: int, micro_batch_size: int, accumulation: int, epochs: float, max_steps: int | None, seed: int,
              lengths: np.ndarray | None = None, capacity: int | None = None) -> Plan:
    """The run's stream of micro-batches; pass sample `lengths` and row `capacity` to pack."""
    plan = Plan(n_samples, micro_batch_size, accumulation, seed, lengths, capacity)
    if max_steps is not None:
        total_micro = max_steps * accumulation
    else:
        whole = math.floor(round(epochs, 9))
        # round() first: 3 × 28 computed as 84.00000000001 must not become 85 micro-batches.
        partial = math.ceil(round((epochs - whole) * plan.micro_in_epoch(whole), 6)) if epochs > whole else 0
        total_micro = max(1, plan.epoch_start(whole) + partial)
    plan.total_micro = total_micro
    plan.total_steps = math.ceil(total_micro / accumulation)
    return plan


def sample_labels(sample: Sample, dropped: np.ndarray | None = None) -> np.ndarray:
    """The sample's labels: its ids where trained and not dropped (goldfish), else IGNORE."""
    keep = sample.trained if dropped is None else sample.trained & ~dropped
    return np.where(keep, sample.ids, IGNORE).astype(np.int64)


def collate(samples: list[Sample], pad_id: int, labels: list[np.ndarray] | None = None) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sample: input_ids, attention_mask, labels (IGNORE where untrained),
    lengths (per token: its sample's length, 0 on padding; NEFTune's L)."""
    width = max(len(s.ids) for s in samples)
    ids = np.full((len(samples), width), pad_id, dtype=np.int64)
    out_labels = np.full((len(samples), width), IGNORE, dtype=np.int64)
    mask = np.zeros((len(samples), width), dtype=np.int64)
    for row, s in enumerate(samples):
        n = len(s.ids)
        ids[row, :n] = s.ids
        out_labels[row, :n] = sample_labels(s) if labels is None else labels[row]
        mask[row, :n] = 1
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(out_labels),
        "lengths": torch.from_numpy(mask * mask.sum(1, keepdims=True)),
    }


@dataclass
class MicroBatch:
    tensors: dict[str, torch.Tensor]  # model inputs + labels + lengths
    samples: list[Sample]
    rows: int  # rows of data.max_length capacity (= samples when unpacked)
    real_tokens: int
    dropped: int  # trained tokens left out of the loss by goldfish


def make_micro_batch(plan: Plan, g: int, samples: list[Sample], pad_id: int, goldfish=None, seed: int = 0,
                     layout: str | None = "sdpa") -> MicroBatch:
    """Global micro-batch g as tensors: padded (plan not packed) or packed rows in `layout`
    ("sdpa" or "varlen", see packing.py)."""
    rows = plan.micro_rows(g)
    epoch = plan.position(g)[0]
    labels, dropped = [], 0
    for row in rows:
        row_labels = []
        for i in row:
            s = samples[i]
            drop = None
            if goldfish is not None:
                drop = goldfish_drop_mask(s.ids, goldfish, seed=seed, sample=i, epoch=epoch).numpy()
                dropped += int((drop & s.trained)[1:].sum())  # position 0 is never a target anyway
            row_labels.append(sample_labels(s, drop))
        labels.append(row_labels)
    flat = [samples[i] for row in rows for i in row]
    if plan.packed:
        tensors = collate_packed([[samples[i] for i in row] for row in rows], labels, pad_id, layout)
    else:
        tensors = collate(flat, pad_id, [row_labels[0] for row_labels in labels])
    real = sum(len(s.ids) for s in flat)
    return MicroBatch(tensors, flat, len(rows), real, dropped)


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's keyword arguments for a collated batch already on its device."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    if "segments" in batch:
        inputs["attention_mask"] = block_causal_mask(batch["segments"])
    return inputs
