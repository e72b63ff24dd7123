"""Goldfish loss (arXiv 2406.10209): leave about 1 in k target tokens out of the loss, so the model
never learns to reproduce a training passage verbatim.

The whole feature is one function, `goldfish_drop_mask(ids, cfg)`, used by training (to set those
labels to IGNORE) and by the dataset preview (to show which tokens are left out). Everything else
is bookkeeping in the recipe: dropped = drop mask AND trained (assistant) mask, and the loss is
normalised by the tokens that remain.

Mask convention (the preview must follow it): `mask[i]` refers to TOKEN i of the sample as a
*target*, i.e. the loss term that predicts `ids[i]` from `ids[:i]` (computed from the logits at
position i−1). It is aligned with `ids` and with chat.py's `trained` mask, so a token is shown as
dropped exactly when `trained[i] and mask[i]`. `mask[0]` is always False: the first token is never
a target.

Variants:
- hashed (default): the authors' `apply_goldfish(strategy="hash-table")` (ahans30/goldfish-loss,
  lit_gpt/utils.py). Their `targets` are our `ids[1:]`, so we run their arithmetic on `ids[1:]`
  and shift the result by one. Concretely, for i ≥ h: key = (product of ids[i−h+1 .. i], int64
  with wrap-around) mod 1,000,003 (torch's remainder, never negative); dropped when
  TABLE[key] < 1/k, TABLE = 1,000,003 float32 uniforms from a CPU `torch.Generator` seeded
  2971215073, and the comparison done in float32 as theirs is. Tokens 0..h−1 are never dropped
  (token 0 is no target; targets 1..h−1 are the reference's "first h−1 positions").
  A function of the token ids only, computed per sample: the same passage loses the same tokens in
  every sample, epoch and packed row, which is the point. The reference computes the context over
  a pretraining block that may span documents; ours never crosses a sample boundary.
- static: tokens k, 2k, 3k, … of the sample (0-based positions).
- random: each token i ≥ 1 independently with probability 1/k, from a generator seeded by
  (training seed, sample, epoch): a fresh mask every epoch (the paper's weaker baseline), yet a pure
  function of its arguments, so exact resume needs no RNG state. Only this variant needs
  seed/sample/epoch; the preview can show one epoch's mask or just the rate.

Mirroring the reference's int64 product has a sharp edge: every token id contributes on average
one factor of 2, so for h beyond ~32 most products wrap to exactly 0 and every context maps to
TABLE[0] = 0.2337 (measured drop fraction at k = 4: 0.25 for h ≤ 32, 0.64 at h = 64, 1.0 at
h = 128). The recipe warns when h > 32; the paper's h is 13.

Trade-off of hashing: a context of h tokens that repeats *inside* the data (boilerplate, the chat
template's own tokens) gets the same verdict everywhere, so some frequent tokens are always or
never trained. That is inherent in the method; only assistant tokens are affected here because
drops apply to trained tokens only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

TABLE_SIZE = 1_000_003
TABLE_SEED = 2971215073  # fib(47), prime; as in the reference


@lru_cache(maxsize=1)
def hash_table() -> torch.Tensor:
    # Built on CPU whatever the training device: torch.rand gives different values on CUDA.
    generator = torch.Generator(device="cpu")
    generator.manual_seed(TABLE_SEED)
    return torch.rand(TABLE_SIZE, generator=generator)


def goldfish_drop_mask(ids, cfg, *, seed: int = 0, sample: int = 0, epoch: int = 0) -> torch.Tensor:
    """Bool mask over the sample's tokens, True = token i is left out of the loss as a target.

    `ids`: the sample's token ids (1-D tensor or array, any integer dtype). `cfg`: a GoldfishConfig
    (k, h, variant). seed/sample/epoch matter for the random variant only.
    """
    # int64 on CPU: the reference's wrap-around product is int64 arithmetic.
    ids = ids.to("cpu", torch.int64) if isinstance(ids, torch.Tensor) else torch.from_numpy(np.asarray(ids, dtype=np.int64))
    n = ids.numel()
    mask = torch.zeros(n, dtype=torch.bool)
    if n < 2:
        return mask
    k = cfg.k
    if cfg.variant == "hashed":
        h = cfg.h
        targets = ids[1:]
        if targets.numel() >= h:
            keys = targets.unfold(0, h, 1).prod(dim=-1) % TABLE_SIZE
            # targets[j] for j >= h-1 ↔ ids[j+1]; the float32 comparison mirrors the reference.
            mask[h:] = hash_table()[keys] < 1 / k
    elif cfg.variant == "static":
        mask[k::k] = True
    elif cfg.variant == "random":
        rng = np.random.default_rng(np.random.SeedSequence([seed, sample, epoch]))
        mask[1:] = torch.from_numpy(rng.random(n - 1) < 1 / k)
    else:
        raise ValueError(f"unknown goldfish variant {cfg.variant!r}")
    return mask
