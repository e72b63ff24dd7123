"""The `preflight` command: one real training step at the configured shape, peak memory measured."""

from __future__ import annotations

from support import Recorder, golden_config, set_dotted

from whetstone_worker import preflight
from whetstone_worker.config import parse_run_config


def _run(tiny_model, **over) -> dict:
    cfg = parse_run_config(set_dotted(golden_config(), model__path=str(tiny_model), **over), "config")
    rec = Recorder()
    preflight.run("pf", {"id": "pf", "config": cfg}, rec.emitter, lambda: False)
    assert [e["phase"] for e in rec.of("progress") if e["phase"] == "preflight"] == ["preflight", "preflight"]
    return rec.of("done")[0]["result"]


def test_preflight_measures_one_step_at_the_configured_shape(tiny_model):
    small = _run(tiny_model, data__max_length=32, training__micro_batch_size=1)
    assert small["device"] == "cpu" and small["measure"] == "peak RSS"
    assert small["fits"] and not small["out_of_memory"]
    assert small["micro_batch_size"] == 1 and small["max_length"] == 32
    assert 0 < small["baseline_bytes"] <= small["peak_bytes"] < small["limit_bytes"]
    # A much larger shape (16 rows of 1024 tokens, full fine-tuning) raises the peak.
    big = _run(tiny_model, data__max_length=1024, training__micro_batch_size=16, finetune="full")
    assert big["peak_bytes"] > small["peak_bytes"] + 40 * 2**20
    # The peak is this step's, not the process's: a small step after the big one measures small again.
    again = _run(tiny_model, data__max_length=32, training__micro_batch_size=1)
    assert again["peak_bytes"] < big["peak_bytes"] - 40 * 2**20
