"""schedule.py: warmup, then cosine / linear / wsd / constant, at the steps that define each shape."""

from __future__ import annotations

import math

import pytest

from whetstone_worker.schedule import lr_at

PEAK, T = 1.0, 10  # warmup_ratio 0.2 → 2 warmup updates; min_lr_ratio 0.1 → floor 0.1


def lrs(kind: str, **kw) -> list[float]:
    args = dict(warmup_ratio=0.2, decay_ratio=0.3, min_lr_ratio=0.1) | kw
    return [lr_at(s, T, PEAK, kind, **args) for s in range(T)]


@pytest.mark.parametrize("kind", ["cosine", "linear", "wsd", "constant"])
def test_warmup_ramps_from_zero_to_peak(kind):
    values = lrs(kind)
    assert values[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_cosine():
    values = lrs("cosine")
    assert values[6] == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the decay
    assert values[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert all(a >= b for a, b in zip(values[2:], values[3:]))
    assert values[9] > 0.1  # the floor is reached just after the last update, never wasted on it


def test_linear():
    values = lrs("linear")
    assert values[6] == pytest.approx(0.55)
    assert values[9] == pytest.approx(0.1 + 0.9 / 8)


def test_wsd_is_flat_then_decays_over_the_last_decay_ratio():
    values = lrs("wsd")
    assert values[2:8] == pytest.approx([1.0] * 6)
    assert values[8:] == pytest.approx([0.1 + 0.9 * 2 / 3, 0.1 + 0.9 / 3])


def test_constant_and_edge_ratios():
    assert lrs("constant")[2:] == pytest.approx([1.0] * 8)
    assert lr_at(0, 5, 2e-4, "cosine") == pytest.approx(2e-4)  # no warmup: first update at peak
    assert lr_at(4, 5, 1.0, "linear", warmup_ratio=1.0) == pytest.approx(5 / 6)  # all warmup
    assert lrs("wsd", decay_ratio=0)[9] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        lr_at(10, 10, 1.0, "cosine")
