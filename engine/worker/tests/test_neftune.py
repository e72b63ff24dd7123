"""neftune.py: the noise follows alpha/sqrt(L·d)·U(−1, 1) per sample, is off outside training forwards,
and relates to transformers' hook exactly: equal on unpadded batches, rescaled (and absent on
padding) on padded ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers.integrations.neftune import neftune_post_forward_hook

from whetstone_worker.data.chat import Sample
from whetstone_worker.data.packing import collate_packed
from whetstone_worker.neftune import NEFTune, token_scales

ALPHA = 5.0


def embedding(dim: int = 64, zero: bool = False) -> torch.nn.Embedding:
    """zero: all-zero weights, so the output IS the noise (no rounding from adding it to embeddings)."""
    torch.manual_seed(0)
    module = torch.nn.Embedding(1000, dim).train()
    if zero:
        torch.nn.init.zeros_(module.weight)
    return module


def ours(module, ids, lengths, seed=1, alpha=ALPHA):
    neftune = NEFTune(alpha)
    handle = module.register_forward_hook(neftune._hook)
    torch.manual_seed(seed)
    with neftune.noise(token_scales(lengths, module.embedding_dim, alpha)):
        out = module(ids)
    handle.remove()
    return out


def transformers_hook(module, ids, seed=1, alpha=ALPHA):
    module.neftune_noise_alpha = alpha
    handle = module.register_forward_hook(neftune_post_forward_hook)
    torch.manual_seed(seed)
    out = module(ids)
    handle.remove()
    return out


def test_noise_statistic_matches_the_formula():
    module = embedding(256, zero=True)
    lengths = [50, 400, 1000]
    ids = torch.randint(0, 1000, (3, 1000))
    per_token = torch.tensor([[n] * n + [0] * (1000 - n) for n in lengths])
    with torch.no_grad():
        noise = ours(module, ids, per_token)
    for row, n in enumerate(lengths):
        scale = ALPHA / math.sqrt(n * 256)
        real = noise[row, :n]
        assert real.abs().max().item() <= scale * (1 + 1e-6)
        assert real.abs().max().item() > 0.99 * scale  # the bound is reached: U(−1, 1), not something narrower
        # Var(U(−s, s)) = s²/3; Var(u²) = 4/45 for u ~ U(−1, 1), so with ≥ 12,800 draws the relative
        # standard error of the estimate is < 0.8% and ±3% is a 3.7σ band.
        assert real.pow(2).mean().item() == pytest.approx(scale**2 / 3, rel=0.03)
        assert real.mean().item() == pytest.approx(0, abs=4 * scale / math.sqrt(3 * real.numel()))
        assert torch.count_nonzero(noise[row, n:]) == 0  # no noise on padding


def test_off_in_eval_mode_outside_noise_blocks_and_at_alpha_zero():
    module = embedding()
    ids = torch.randint(0, 1000, (2, 10))
    lengths = torch.full((2, 10), 10)
    clean = module(ids)
    module.eval()
    assert torch.equal(ours(module, ids, lengths), clean)
    module.train()
    assert torch.equal(ours(module, ids, lengths, alpha=0.0), clean)
    neftune = NEFTune(ALPHA)
    module.register_forward_hook(neftune._hook)
    assert torch.equal(module(ids), clean)  # not armed: eval passes and generation never see noise
    with neftune.noise(token_scales(lengths, 64, ALPHA)):
        assert not torch.equal(module(ids), clean)
        with neftune.paused():  # DPO's reference pass inside the policy's noised step
            assert torch.equal(module(ids), clean)
        assert not torch.equal(module(ids), clean)  # re-armed after the pause
    assert torch.equal(module(ids), clean)


def test_unpadded_batch_equals_transformers_hook_exactly():
    module = embedding()
    ids = torch.randint(0, 1000, (4, 37))
    assert torch.equal(ours(module, ids, torch.full((4, 37), 37)), transformers_hook(module, ids))


def test_through_the_model_the_hook_sits_on_the_input_embeddings(tiny_model):
    from whetstone_worker import modeling
    from whetstone_worker.config import LoraConfig

    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu"))
    model = modeling.apply_lora(model, LoraConfig(r=4, alpha=8, dropout=0, target_modules="all-linear")).train()
    ids = torch.randint(0, 500, (2, 21))
    neftune = NEFTune(ALPHA).attach(model)
    torch.manual_seed(3)
    with torch.no_grad(), neftune.noise(token_scales(torch.full((2, 21), 21), 64, ALPHA)):
        a = model(input_ids=ids).logits
    neftune.detach()
    embed = model.get_input_embeddings()
    embed.neftune_noise_alpha = ALPHA
    embed.register_forward_hook(neftune_post_forward_hook)
    torch.manual_seed(3)
    with torch.no_grad():
        b = model(input_ids=ids).logits
    assert torch.equal(a, b)


def test_padded_batch_is_the_hook_rescaled_to_each_samples_length():
    module = embedding(zero=True)
    ids = torch.randint(0, 1000, (3, 40))
    real = [40, 25, 7]
    per_token = torch.tensor([[n] * n + [0] * (40 - n) for n in real])
    with torch.no_grad():
        mine, theirs = ours(module, ids, per_token), transformers_hook(module, ids)
    for row, n in enumerate(real):
        # Same uniforms, different float32 roundings of the scale: equal to a few ulp.
        torch.testing.assert_close(mine[row, :n], theirs[row, :n] * math.sqrt(40 / n), rtol=1e-6, atol=0)
        assert torch.count_nonzero(mine[row, n:]) == 0
        if n < 40:
            assert torch.count_nonzero(theirs[row, n:]) > 0  # the hook noises padding; we do not


def test_packed_rows_get_each_samples_own_length():
    a, b, c = (Sample(np.arange(1, n + 1, dtype=np.int32), np.ones(n, bool), i) for i, n in enumerate((10, 30, 5)))
    rows = [[a, b], [c]]
    batch = collate_packed(rows, [[s.ids.astype(np.int64) for s in row] for row in rows], pad_id=0)
    scales = token_scales(batch["lengths"], 64, ALPHA)
    expected = [[ALPHA / math.sqrt(10 * 64)] * 10 + [ALPHA / math.sqrt(30 * 64)] * 30, [ALPHA / math.sqrt(5 * 64)] * 5 + [0.0] * 35]
    torch.testing.assert_close(scales, torch.tensor(expected))
