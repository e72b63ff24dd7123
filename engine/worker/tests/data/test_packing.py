"""data/packing.py and the packed plan: rows hold every sample once within capacity, deterministically;
attention never crosses samples (the leak test); packed and unpacked losses agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from support import TINY_CHAT

from whetstone_worker.config import GoldfishConfig
from whetstone_worker.data.batches import IGNORE, make_micro_batch, make_plan, model_inputs
from whetstone_worker.data.chat import Sample, build_samples
from whetstone_worker.data.packing import block_causal_mask, collate_packed, pack_rows


@pytest.fixture(scope="module")
def chat_samples(tiny_tokenizer):
    return build_samples(tiny_tokenizer, Path(TINY_CHAT), 256, "drop")[0]


@pytest.fixture(scope="module")
def model(tiny_model):
    from whetstone_worker import modeling

    return modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu")).eval()


def lengths_of(samples) -> np.ndarray:
    return np.array([len(s.ids) for s in samples])


def test_rows_hold_every_sample_once_within_capacity():
    lengths = np.random.default_rng(0).integers(5, 200, 500)
    order = np.random.default_rng(1).permutation(500)
    rows = pack_rows(order, lengths, 256)
    assert sorted(i for row in rows for i in row) == list(range(500))
    assert all(sum(lengths[i] for i in row) <= 256 for row in rows)
    assert rows == pack_rows(order, lengths, 256)  # deterministic
    assert lengths.sum() / (len(rows) * 256) > 0.9
    with pytest.raises(ValueError):
        pack_rows(np.array([0]), np.array([300]), 256)


def test_packed_plan_is_a_pure_function_of_seed_and_epoch(chat_samples):
    lengths = lengths_of(chat_samples)
    plan = make_plan(len(chat_samples), 4, 1, 3, None, 42, lengths=lengths, capacity=256)
    again = make_plan(len(chat_samples), 4, 1, 3, None, 42, lengths=lengths, capacity=256)
    counts = [plan.micro_in_epoch(e) for e in range(3)]
    assert plan.total_micro == sum(counts) and plan.total_steps == plan.total_micro
    stream = [plan.micro_rows(g) for g in range(plan.total_micro)]
    assert stream == [again.micro_rows(g) for g in range(again.total_micro)]
    for e in range(3):
        first = sum(counts[:e])
        epoch = [i for g in range(first, first + counts[e]) for i in plan.micro_batch(g)]
        assert sorted(epoch) == list(range(len(chat_samples)))
        assert plan.position(first) == (e, 0) and plan.epoch_float(first + 1) == pytest.approx(e + 1 / counts[e])
    assert plan.epoch_float(plan.total_micro) == 3
    assert stream[0] != plan.micro_rows(counts[0])  # each epoch is packed from its own permutation
    half = make_plan(len(chat_samples), 4, 1, 1.5, None, 42, lengths=lengths, capacity=256)
    assert half.total_micro == counts[0] + -(-counts[1] // 2)
    capped = make_plan(len(chat_samples), 4, 2, 1, 12, 42, lengths=lengths, capacity=256)  # max_steps runs past epochs
    before = sum(capped.micro_in_epoch(e) for e in range(4))
    assert capped.total_micro == 24 and before <= 23 and capped.position(23) == (4, 23 - before)


def test_collate_packed_layout():
    a = Sample(np.array([5, 6, 7], np.int32), np.array([False, True, True]), 1)
    b = Sample(np.array([8, 9], np.int32), np.array([True, True]), 2)
    c = Sample(np.array([4], np.int32), np.array([True]), 3)
    labels = [[np.array([IGNORE, 6, 7]), np.array([8, 9])], [np.array([4])]]
    batch = collate_packed([[a, b], [c]], labels, pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9], [4, 0, 0, 0, 0]]
    # Each sample's first label is IGNORE: it would be predicted from the previous sample.
    assert batch["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, 9], [IGNORE] * 5]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 0, 1, 2, 3]]
    assert batch["lengths"].tolist() == [[3, 3, 3, 2, 2], [1, 0, 0, 0, 0]]
    mask = block_causal_mask(batch["segments"])
    assert mask.shape == (2, 1, 5, 5) and mask.dtype == torch.bool
    assert mask[0, 0].int().tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    assert mask[1, 0].any(-1).all()  # padding attends to itself: no all-masked query row (SDPA would give NaN)
    flat = collate_packed([[a, b], [c]], labels, pad_id=0, layout="varlen")
    assert "segments" not in flat and "attention_mask" not in model_inputs(flat)
    assert flat["input_ids"].tolist() == [[5, 6, 7, 8, 9, 4]] and flat["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0]]
    assert flat["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, 9, IGNORE]]


def test_block_causal_mask_matches_a_loop():
    segments = torch.tensor([[0, 0, 1, 1, 1, 2, -1, -1]])
    mask = block_causal_mask(segments)[0, 0]
    for q in range(8):
        for k in range(8):
            assert bool(mask[q, k]) == (k <= q and segments[0, q] == segments[0, k])


def test_packed_logits_equal_each_samples_own_logits(model, chat_samples):
    """The leak test: any attention across samples changes the later samples' logits."""
    picked = [chat_samples[i] for i in (0, 5, 9, 17)]
    labels = [[s.ids.astype(np.int64) for s in picked]]
    batch = collate_packed([picked], labels, pad_id=0)
    ids, positions = batch["input_ids"], batch["position_ids"]
    with torch.no_grad():
        alone = [model(input_ids=torch.from_numpy(s.ids.astype(np.int64))[None]).logits[0] for s in picked]

        def worst(logits: torch.Tensor) -> float:
            at, out = 0, 0.0
            for s, own in zip(picked, alone):
                out = max(out, (logits[0, at : at + len(s.ids)] - own).abs().max().item())
                at += len(s.ids)
            return out

        assert worst(model(**model_inputs(batch)).logits) < 1e-5
        # The same check sees the leaks the block mask prevents: transformers infers boundaries from
        # position ids only without a 2-D mask and without a KV cache.
        assert worst(model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=positions).logits) > 1e-2
        assert worst(model(input_ids=ids, position_ids=positions, use_cache=True).logits) > 1e-2


@pytest.mark.parametrize("goldfish", [None, GoldfishConfig(k=4, h=13, variant="hashed")])
def test_packed_loss_equals_unpacked_loss(model, chat_samples, goldfish):
    samples = chat_samples[:24]
    n = len(samples)
    unpacked = make_plan(n, n, 1, 1, None, 3)
    packed = make_plan(n, n, 1, 1, None, 3, lengths=lengths_of(samples), capacity=256)
    assert packed.micro_rows(0) and len(packed.micro_rows(0)) < n  # several samples per row
    means = []
    for plan in (unpacked, packed):
        micro = make_micro_batch(plan, 0, samples, pad_id=0, goldfish=goldfish)
        assert sorted(s.line for s in micro.samples) == sorted(s.line for s in samples)
        labels = micro.tensors["labels"]
        with torch.no_grad():
            logits = model(**model_inputs(micro.tensors)).logits
        total = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE, reduction="sum")
        means.append((total / (labels[:, 1:] != IGNORE).sum()).item())
    assert means[0] == pytest.approx(means[1], abs=1e-5)
