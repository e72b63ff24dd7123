"""NEFTune (arXiv 2310.05914): uniform noise on the input embeddings during training forward passes.

    emb ← emb + alpha / sqrt(L·d) · U(−1, 1)      L = the token's own sample's real length, d = width

Implemented as a forward hook on the input embedding module that reads per-token scales the recipe
sets around each training forward (`with neftune.noise(scales): model(...)`). Outside that block
(evaluation, generation, a recipe that forgets) and whenever the module is in eval mode or alpha is
0, the hook returns the embeddings untouched, so noise can never leak into measurement.

Deliberate difference from transformers' hook (`integrations/neftune.py`,
`neftune_post_forward_hook`): that hook uses the padded row length for L and noises padding too;
with packed rows its L becomes the whole row and the noise shrinks by about √(samples per row).
Ours follows the authors' code: L per sample (from packing boundaries), zero noise on padding.
On an unpadded single-sample-per-row batch the two are bitwise equal (same draws from the same
global RNG, same float32 arithmetic); on a padded batch ours is the hook's noise × sqrt(L_padded /
L_real) on real tokens and 0 on padding. Tests check both.

The uniforms come from torch's global RNG (one draw per embedding element, padding included, so
the draw count depends only on the batch shape): a checkpoint's RNG state restores the noise
exactly on resume. The trade-off: the noise depends on the batch shape, so two batchings of the same
samples (e.g. micro-batch 4 vs 2 × accumulation 2) see different noise.
"""

from __future__ import annotations

import contextlib

import torch


def token_scales(lengths: torch.Tensor, dim: int, alpha: float) -> torch.Tensor:
    """Per-token noise scale alpha/sqrt(L·d) from per-token sample lengths (0 = padding → scale 0).

    float32 and the same operation order as transformers' hook, which is what makes the two equal
    bit for bit on unpadded batches.
    """
    lengths = lengths.to(torch.int64)
    scale = alpha / torch.sqrt((lengths * dim).to(torch.float32))
    return torch.where(lengths > 0, scale, torch.zeros_like(scale))


class NEFTune:
    """Owns the hook; `noise(scales)` arms it for one forward pass."""

    def __init__(self, alpha: float):
        self.alpha = float(alpha)
        self._scales: torch.Tensor | None = None
        self._handle = None

    def attach(self, model) -> "NEFTune":
        if self.alpha > 0 and self._handle is None:
            self._handle = model.get_input_embeddings().register_forward_hook(self._hook)
        return self

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @contextlib.contextmanager
    def noise(self, scales: torch.Tensor | None):
        """Noise the embeddings of forward passes inside this block; scales: (batch, tokens)."""
        self._scales = scales
        try:
            yield
        finally:
            self._scales = None

    @contextlib.contextmanager
    def paused(self):
        """No noise inside this block even within `noise(...)`: DPO's reference pass runs the same
        embedding module (LoRA with the adapter disabled) in the middle of the policy's noised step,
        and the reference must be the clean initial model."""
        scales, self._scales = self._scales, None
        try:
            yield
        finally:
            self._scales = scales

    def _hook(self, module, inputs, output):
        scales = self._scales
        if scales is None or not module.training or self.alpha <= 0:
            return None  # None keeps the module's output as it is
        if scales.shape != output.shape[:-1]:
            raise ValueError(f"NEFTune scales {tuple(scales.shape)} do not match the embeddings {tuple(output.shape)}")
        # U(-1, 1) then × scale equals uniform_(-scale, scale) bit for bit in float32: 2x−1 is exact
        # and a single float32 product rounds the same value the hook's double arithmetic does.
        uniform = torch.empty_like(output).uniform_(-1, 1)
        return output + (uniform * scales.to(output.device, torch.float32)[..., None]).to(output.dtype)
