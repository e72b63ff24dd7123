"""data/batches.py: deterministic order, step ↔ position mapping, fractional epochs, padding."""

from __future__ import annotations

import numpy as np

from whetstone_worker.data.batches import IGNORE, collate, make_plan
from whetstone_worker.data.chat import Sample


def test_totals_for_whole_fractional_and_max_steps():
    assert make_plan(10, 4, 1, 3, None, 0).total_steps == 9  # 3 micro-batches per epoch (4, 4, 2)
    half = make_plan(10, 4, 2, 1.5, None, 0)
    assert (half.total_micro, half.total_steps) == (5, 3)  # ceil(4.5) micro-batches, last step has one
    assert list(half.step_micro(2)) == [4]
    assert make_plan(111, 4, 1, 3, None, 0).total_steps == 84  # 3 × 28 exactly, no float spill
    capped = make_plan(10, 4, 2, 1, 7, 0)
    assert (capped.total_steps, capped.total_micro) == (7, 14)  # max_steps overrides epochs


def test_order_is_a_pure_function_of_seed_and_epoch():
    a, b = make_plan(50, 4, 1, 2, None, 42), make_plan(50, 4, 1, 2, None, 42)
    assert np.array_equal(a.epoch_order(1), b.epoch_order(1))
    assert not np.array_equal(a.epoch_order(0), a.epoch_order(1))
    assert not np.array_equal(a.epoch_order(0), make_plan(50, 4, 1, 2, None, 43).epoch_order(0))
    assert sorted(a.epoch_order(0).tolist()) == list(range(50))


def test_every_sample_once_per_epoch_and_positions():
    plan = make_plan(10, 4, 1, 2, None, 7)
    first_epoch = [i for g in range(plan.micro_in_epoch(0)) for i in plan.micro_batch(g)]
    assert sorted(first_epoch) == list(range(10))
    assert plan.position(4) == (1, 1)
    assert plan.epoch_float(4) == 4 / 3


def test_collate_right_pads_and_masks():
    a = Sample(np.array([5, 6, 7], np.int32), np.array([False, True, True]), 1)
    b = Sample(np.array([8], np.int32), np.array([True]), 2)
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]
