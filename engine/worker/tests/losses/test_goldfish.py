"""losses/goldfish.py: the drop mask per variant, its convention (mask[i] = token i as a target), the
reference's arithmetic, and that dropped tokens never reach the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from whetstone_worker.config import GoldfishConfig
from whetstone_worker.data.batches import IGNORE, make_micro_batch, make_plan
from whetstone_worker.data.chat import Sample
from whetstone_worker.losses.goldfish import TABLE_SIZE, goldfish_drop_mask, hash_table

HASHED = GoldfishConfig(k=4, h=13, variant="hashed")


def random_ids(n: int, seed: int = 0, vocab: int = 32000) -> torch.Tensor:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed))


def slow_hashed_mask(ids: list[int], k: int, h: int) -> list[bool]:
    """ALGORITHMS.md, literally: the reference's targets are ids[1:]; target j (≥ h−1) is dropped when
    table[(product of targets j−h+1..j as int64, wrapping) mod 1,000,003] < 1/k."""
    table = hash_table()
    targets = ids[1:]
    mask = [False] * len(ids)
    for j in range(h - 1, len(targets)):
        product = 1
        for t in targets[j - h + 1 : j + 1]:
            product = product * t % 2**64
        signed = product - 2**64 if product >= 2**63 else product  # int64 two's complement
        key = signed % TABLE_SIZE  # torch's % on int64 is Python's: never negative
        mask[j + 1] = bool(table[key] < 1 / k)  # a float32 tensor against a Python float, as the reference
    return mask


def test_table_is_the_references():
    table = hash_table()
    assert table.shape == (1_000_003,) and table.dtype == torch.float32
    expected = torch.rand(5, generator=torch.Generator().manual_seed(2971215073))
    assert torch.equal(table[:5], expected)


@pytest.mark.parametrize("k, h", [(4, 13), (3, 4), (2, 1), (7, 2)])
def test_hashed_mask_equals_the_slow_reference(k, h):
    ids = random_ids(600, seed=k * 100 + h)
    fast = goldfish_drop_mask(ids, GoldfishConfig(k=k, h=h, variant="hashed"))
    assert fast.tolist() == slow_hashed_mask(ids.tolist(), k, h)
    assert not fast[:h].any()  # token 0 is no target; targets 1..h−1 are the reference's first h−1


@pytest.mark.parametrize("variant", ["hashed", "static", "random"])
@pytest.mark.parametrize("k", [2, 4, 10])
def test_drop_fraction_is_about_one_in_k(variant, k):
    # 40 samples × 1000 tokens: the binomial standard error of the fraction is ≤ 0.0025 (k = 2), so
    # ±0.01 is a 4σ band; hashed keys of overlapping windows are not independent, but random ids make
    # them close to it.
    cfg = GoldfishConfig(k=k, h=13, variant=variant)
    masks = [goldfish_drop_mask(random_ids(1000, seed=s), cfg, seed=1, sample=s)[13:] for s in range(40)]
    fraction = torch.cat(masks).float().mean().item()
    assert fraction == pytest.approx(1 / k, abs=0.01)


def test_same_text_loses_the_same_tokens_wherever_it_appears():
    passage = random_ids(200, seed=1)
    a = torch.cat([random_ids(5, seed=2), passage, random_ids(30, seed=3)])
    b = torch.cat([random_ids(77, seed=4), passage])
    mask_a, mask_b = goldfish_drop_mask(a, HASHED)[5:205], goldfish_drop_mask(b, HASHED)[77:]
    # From the h-th token of the passage on, the whole context lies inside the passage.
    assert torch.equal(mask_a[HASHED.h - 1 :], mask_b[HASHED.h - 1 :])
    assert mask_a[HASHED.h - 1 :].any()
    # A fixed function of the ids: no state, no seed, no epoch.
    assert torch.equal(goldfish_drop_mask(a, HASHED, seed=9, epoch=3), goldfish_drop_mask(a.numpy().astype(np.int32), HASHED))


def test_static_drops_every_kth_position():
    mask = goldfish_drop_mask(torch.arange(1, 21), GoldfishConfig(k=4, h=13, variant="static"))
    assert torch.nonzero(mask).flatten().tolist() == [4, 8, 12, 16]


def test_random_is_seeded_per_sample_and_epoch():
    cfg = GoldfishConfig(k=4, h=13, variant="random")
    ids = random_ids(500)
    first = goldfish_drop_mask(ids, cfg, seed=1, sample=3, epoch=0)
    assert torch.equal(first, goldfish_drop_mask(ids, cfg, seed=1, sample=3, epoch=0))
    for other in ({"seed": 2, "sample": 3, "epoch": 0}, {"seed": 1, "sample": 4, "epoch": 0}, {"seed": 1, "sample": 3, "epoch": 1}):
        assert not torch.equal(first, goldfish_drop_mask(ids, cfg, **other)), other
    assert not first[0]


def test_short_samples():
    for n in (0, 1, 5):
        assert not goldfish_drop_mask(torch.arange(n), HASHED).any()


def test_dropped_tokens_never_reach_the_loss():
    """Through the training path (packed micro-batch, labels, the recipe's loss formula): logits
    predicting a dropped token get exactly zero gradient, and the loss is the mean over kept tokens."""
    cfg = GoldfishConfig(k=2, h=2, variant="hashed")
    rng = np.random.default_rng(0)
    samples = []
    for line in range(6):
        n = int(rng.integers(20, 40))
        trained = np.zeros(n, bool)
        trained[n // 3 :] = True
        samples.append(Sample(rng.integers(1, 500, n).astype(np.int32), trained, line + 1))
    plan = make_plan(len(samples), 2, 1, 1, None, 0, lengths=np.array([len(s.ids) for s in samples]), capacity=80)
    micro = make_micro_batch(plan, 0, samples, pad_id=0, goldfish=cfg)
    labels = micro.tensors["labels"]
    logits = torch.randn(*labels.shape, 500, generator=torch.Generator().manual_seed(0), requires_grad=True)

    n_kept = int((labels[:, 1:] != IGNORE).sum())
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE, reduction="sum") / n_kept
    loss.backward()

    # Expected: walk the rows sample by sample, from the samples' own masks.
    kept_losses, dropped_positions = [], []
    log_probs = torch.log_softmax(logits.detach(), -1)
    for r, row in enumerate(plan.micro_rows(0)):
        at = 0
        for i in row:
            s = samples[i]
            drop = goldfish_drop_mask(s.ids, cfg).numpy()
            for t in range(1, len(s.ids)):
                if s.trained[t] and drop[t]:
                    dropped_positions.append((r, at + t - 1))
                elif s.trained[t]:
                    kept_losses.append(-log_probs[r, at + t - 1, s.ids[t]])
            at += len(s.ids)
    assert dropped_positions and micro.dropped == len(dropped_positions) and n_kept == len(kept_losses)
    assert loss.item() == pytest.approx(torch.stack(kept_losses).mean().item(), abs=1e-6)
    for r, p in dropped_positions:
        assert torch.count_nonzero(logits.grad[r, p]) == 0
