"""The run's token cache returns exactly what build_samples returns, and is rebuilt when anything it depends on changes."""

from __future__ import annotations

import shutil

import numpy as np
from support import TINY_CHAT

from whetstone_worker.data.chat import build_samples
from whetstone_worker.data.token_cache import cached_samples


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.line == y.line and x.ids.dtype == y.ids.dtype and np.array_equal(x.ids, y.ids) and np.array_equal(x.trained, y.trained)


def test_cache_round_trips_and_invalidates(tiny_tokenizer, tiny_model, tmp_path):
    data = tmp_path / "train.jsonl"
    shutil.copy(TINY_CHAT, data)
    cache = tmp_path / "run" / "data" / "tokens.npz"
    fresh, report = build_samples(tiny_tokenizer, data, 64, "drop")
    first, first_report, hit = cached_samples(tiny_tokenizer, data, tiny_model, 64, "drop", cache)
    assert not hit and cache.is_file() and not cache.with_name("tokens.npz.tmp").exists()
    again, again_report, hit = cached_samples(tiny_tokenizer, data, tiny_model, 64, "drop", cache)
    assert hit
    _same(fresh, first)
    _same(fresh, again)
    assert (again_report.read, again_report.truncated, dict(again_report.dropped)) == (report.read, report.truncated, dict(report.dropped))
    assert report.dropped  # max_length 64 drops some samples, so the report round trip is exercised
    # Any input of the key changes: another max_length, other data, a corrupt file: rebuilt, not reused.
    assert not cached_samples(tiny_tokenizer, data, tiny_model, 128, "drop", cache)[2]
    with data.open("a") as f:
        f.write('{"messages": [{"role": "user", "content": "new"}, {"role": "assistant", "content": "row"}]}\n')
    more, _, hit = cached_samples(tiny_tokenizer, data, tiny_model, 128, "drop", cache)
    assert not hit and len(more) == len(build_samples(tiny_tokenizer, data, 128, "drop")[0])
    cache.write_bytes(b"not a zip")
    assert not cached_samples(tiny_tokenizer, data, tiny_model, 128, "drop", cache)[2]
