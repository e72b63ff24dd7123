"""Learning-rate schedules as one pure function of the step, so they are tested directly and a
resumed run needs no scheduler state beyond the step counter.

Step s (0-based) is the s-th optimizer update of T. Warmup covers the first W = floor(warmup_ratio·T)
updates and ramps linearly as if from 0 *before* the first update to the peak *at* update W, so no
update is wasted at lr 0. After warmup, progress p runs from 0 at update W towards 1 at the
(virtual) update T, so the last real update still has a small non-zero lr:

- cosine:   min + (peak − min) · ½(1 + cos πp)
- linear:   min + (peak − min) · (1 − p)
- wsd:      peak until the last D = floor(decay_ratio·T) updates, then linear to min over those D
- constant: peak

min = min_lr_ratio · peak. The endpoint convention (lr reaches min just after the run) is the same
for every kind, which is what makes the kinds comparable at equal T.
"""

from __future__ import annotations

import math


def lr_at(
    step: int,
    total_steps: int,
    peak: float,
    kind: str,
    warmup_ratio: float = 0.0,
    decay_ratio: float = 0.2,
    min_lr_ratio: float = 0.0,
) -> float:
    if not 0 <= step < total_steps:
        raise ValueError(f"step {step} outside 0..{total_steps - 1}")
    warmup = math.floor(warmup_ratio * total_steps)
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    floor_lr = min_lr_ratio * peak
    if kind == "constant":
        return peak
    if kind == "wsd":
        decay = min(math.floor(decay_ratio * total_steps), total_steps - warmup)
        start = total_steps - decay
        if step < start:
            return peak
        return floor_lr + (peak - floor_lr) * (1 - (step - start) / decay)
    progress = (step - warmup) / (total_steps - warmup)
    if kind == "cosine":
        return floor_lr + (peak - floor_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    if kind == "linear":
        return floor_lr + (peak - floor_lr) * (1 - progress)
    raise ValueError(f"unknown scheduler {kind!r}")
