"""data/preview.py: the engine's window on the worker's training data and goldfish table."""

from __future__ import annotations

import json

import numpy as np

from whetstone_worker.config import GoldfishConfig
from whetstone_worker.data.chat import build_samples
from whetstone_worker.data.preview import export_goldfish_table, main, preview
from whetstone_worker.losses.goldfish import TABLE_SIZE, goldfish_drop_mask, hash_table

from support import TINY_CHAT


def test_goldfish_table_is_exported_as_little_endian_float32(tmp_path):
    path = export_goldfish_table(tmp_path / "sub" / "table.f32")
    data = np.fromfile(path, dtype="<f4")
    assert data.shape == (TABLE_SIZE,)
    assert np.array_equal(data, hash_table().numpy())
    assert not list(path.parent.glob("*.tmp"))


def test_preview_is_build_samples_plus_the_training_masks(tiny_tokenizer):
    goldfish = GoldfishConfig(k=4, h=13, variant="hashed")
    out = preview(tiny_tokenizer, TINY_CHAT, 64, "truncate", goldfish)
    samples, report = build_samples(tiny_tokenizer, TINY_CHAT, 64, "truncate")
    assert out["report"] == {"read": report.read, "kept": report.kept, "truncated": report.truncated, "dropped": dict(report.dropped)}
    assert [s["line"] for s in out["samples"]] == [s.line for s in samples]
    for got, sample in zip(out["samples"], samples):
        drop = goldfish_drop_mask(sample.ids, goldfish).numpy()
        assert got["ids"] == sample.ids.tolist()
        assert got["dropped"] == (drop & sample.trained).astype(int).tolist()
        assert got["labels"] == [i if t and not d else -100 for i, t, d in zip(sample.ids.tolist(), sample.trained, drop)]


def test_settings_run_several_previews_in_one_process(tiny_model, capsys):
    settings = [{"max_length": 1024, "overlong": "drop", "goldfish": None}, {"max_length": 32, "overlong": "drop", "goldfish": {"k": 2, "h": 13, "variant": "static"}}]
    assert main(["--data", str(TINY_CHAT), "--model", str(tiny_model), "--settings", json.dumps(settings)]) == 0
    first, second = json.loads(capsys.readouterr().out)
    assert first["report"]["kept"] == 111
    assert second["report"]["kept"] < 111 and second["report"]["dropped"]["too_long"] > 0
    assert any(1 in s["dropped"] for s in second["samples"])
