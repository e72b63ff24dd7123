"""Padding-free packing: several samples per row, each sample computed exactly as if it were alone.

Rows. An epoch's samples, in the epoch's permutation order (batches.py), are packed into rows of
capacity data.max_length by best-fit over a small window of open rows: each sample goes into the
open row with the least free space that still fits it; if none fits, a new row opens, and when
more than WINDOW rows are open the oldest is closed. Rows come out in the order they close. A pure
function of (order, lengths, capacity), so the row list is a pure function of (seed, epoch) and
exact resume needs no packer state. The window keeps the shuffle local (a sample moves at most
about WINDOW rows from its place in the permutation) while filling rows well: measured fill with
windows 1/8/16/64 was 73/92/95/98% for lengths uniform in 5..200 at capacity 256, and
90/99/99/99.5% for log-normal lengths at 1024. A global sort-based packer fills a little better
but groups samples by length, so micro-batches would no longer be random draws.

Isolation. Inside a row, position ids restart at 0 for each sample and attention never crosses
samples:
- "sdpa" layout (CPU, MPS, CUDA without FlashAttention): rows of equal width (the micro-batch's
  longest row; the rest is padding) with an explicit 4-D boolean block-diagonal causal mask
  (B, 1, T, T), True = may attend. Position ids alone are not a contract: transformers 5.18 infers
  sample boundaries from them only when there is no attention mask and no KV cache (use_cache off,
  not compiling); with a 2-D mask or a cache, SDPA and eager let later samples attend to earlier
  ones (logits off by up to 3.3 on the tiny model). The explicit mask holds in every case, and
  tests/data/test_packing.py checks both that it isolates samples and that the test sees a leak.
  Eager attention adds the mask to the scores, so a boolean mask is for SDPA only (the recipe
  refuses packing on other implementations). Padding forms one more block of its own, so no query
  row is fully masked (SDPA would return NaN there, and NaN × 0 still poisons gradients).
  The mask costs B·T² bytes (4 rows × 4096² = 64 MiB) and keeps SDPA off its flash kernel.
- "varlen" layout (CUDA with flash_attention_2): the micro-batch's samples concatenated into one
  row (1, N) with no padding at all and no mask; transformers sees position ids that restart and
  calls FlashAttention's varlen kernel with cu_seqlens built from them. Not testable on a CPU-only
  machine; kept to the flattening below so that the loss code is shared with the tested path.

Labels: each sample's first token is IGNORE, because in a row the logits before it belong to the
previous sample. Goldfish drops (losses/goldfish.py) are applied per sample before packing.
"""

from __future__ import annotations

import numpy as np
import torch

from .chat import IGNORE, Sample

WINDOW = 16


def pack_rows(order: np.ndarray, lengths: np.ndarray, capacity: int, window: int = WINDOW) -> list[list[int]]:
    """Sample indices per row, best-fit within `window` open rows, taking samples in `order`."""
    closed: list[list[int]] = []
    open_rows: list[list[int]] = []
    free: list[int] = []
    for index in order.tolist():
        n = int(lengths[index])
        if n > capacity:
            raise ValueError(f"sample {index} has {n} tokens, more than the row capacity {capacity}")
        best = -1
        for r, space in enumerate(free):
            if n <= space and (best < 0 or space < free[best]):
                best = r
        if best < 0:
            if len(open_rows) == window:
                closed.append(open_rows.pop(0))
                free.pop(0)
            open_rows.append([])
            free.append(capacity)
            best = len(open_rows) - 1
        open_rows[best].append(index)
        free[best] -= n
        if free[best] == 0:
            closed.append(open_rows.pop(best))
            free.pop(best)
    return closed + open_rows


def collate_packed(rows: list[list[Sample]], labels: list[list[np.ndarray]], pad_id: int, layout: str = "sdpa") -> dict[str, torch.Tensor]:
    """Packed micro-batch: input_ids, labels, position_ids, lengths (per token: its sample's length,
    0 on padding), and for the sdpa layout `segments` (per token: its sample's index in the row, −1
    on padding), from which `block_causal_mask` builds the attention mask on the training device
    (B·T² bytes are cheaper to build there than to copy there).

    `labels[r][j]` are sample rows[r][j]'s labels (IGNORE where untrained or dropped).
    """
    width = max(sum(len(s.ids) for s in row) for row in rows)
    shape = (len(rows), width)
    ids = np.full(shape, pad_id, dtype=np.int64)
    out_labels = np.full(shape, IGNORE, dtype=np.int64)
    positions = np.zeros(shape, dtype=np.int64)
    lengths = np.zeros(shape, dtype=np.int64)
    segments = np.full(shape, -1, dtype=np.int64)  # -1: padding, a block of its own
    for r, (row, row_labels) in enumerate(zip(rows, labels)):
        at = 0
        for j, (sample, sample_labels) in enumerate(zip(row, row_labels)):
            n = len(sample.ids)
            ids[r, at : at + n] = sample.ids
            out_labels[r, at : at + n] = sample_labels
            out_labels[r, at] = IGNORE  # predicted from the previous sample's last token
            positions[r, at : at + n] = np.arange(n)
            lengths[r, at : at + n] = n
            segments[r, at : at + n] = j
            at += n
        if at < width:  # padding continues the positions so they stay within the model's range
            positions[r, at:] = np.arange(width - at)
    batch = {
        "input_ids": torch.from_numpy(ids),
        "labels": torch.from_numpy(out_labels),
        "position_ids": torch.from_numpy(positions),
        "lengths": torch.from_numpy(lengths),
    }
    if layout == "varlen":
        real = batch["lengths"] > 0
        return {key: value[real][None] for key, value in batch.items()}
    if layout != "sdpa":
        raise ValueError(f"unknown packed layout {layout!r}")
    batch["segments"] = torch.from_numpy(segments)
    return batch


def block_causal_mask(segments: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) bool, True where query t may attend key s: same segment and s ≤ t."""
    same = segments[:, :, None] == segments[:, None, :]
    width = segments.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=segments.device).tril()
    return (same & causal)[:, None]
