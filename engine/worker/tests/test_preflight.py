"""The `preflight` command: one real training step at the configured shape, peak memory measured."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from support import Recorder, golden_config, set_dotted

from whetstone_worker.jobs import preflight
from whetstone_worker.config import parse_run_config
from whetstone_worker.server import run_task


def _run(tiny_model, **over) -> dict:
    cfg = parse_run_config(set_dotted(golden_config(), model__path=str(tiny_model), **over), "config")
    rec = Recorder()
    run_task(preflight.run, "pf", {"id": "pf", "config": cfg}, rec.emitter, lambda: False)
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


DPO = {"beta": 0.1, "label_smoothing": 0, "gamma_beta_ratio": None, "lambda": None}


def _dpo(tiny_model, precompute: bool, **over) -> dict:
    return _run(tiny_model, method="dpo", init_from=None, preference=dict(DPO, precompute_reference=precompute), **over)


def _growth(result: dict) -> int:
    """What the step itself allocated: peak over the live baseline."""
    return result["peak_bytes"] - result["baseline_bytes"]


@pytest.fixture(scope="module")
def wide_model(tiny_model, tmp_path_factory) -> tuple[Path, int]:
    """The tiny model with a 32k vocabulary: 17M parameters (65 MiB in fp32), almost all in the
    embeddings and the head, so a copy of the weights is large while a step on a few tokens is cheap."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("wide")
    for f in tiny_model.iterdir():
        if f.name not in ("model.safetensors", "config.json"):
            shutil.copy(f, folder / f.name)
    config = LlamaConfig.from_pretrained(tiny_model)
    config.vocab_size, config.hidden_size, config.head_dim = 32000, 256, 64
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return folder, sum(p.numel() for p in model.parameters()) * 4


def test_dpo_full_preflight_holds_the_frozen_reference_copy(wide_model):
    path, weight_bytes = wide_model
    shape = dict(finetune="full", data__max_length=16, training__micro_batch_size=1)
    copy = _dpo(path, False, **shape)
    precomputed = _dpo(path, True, **shape)
    assert copy["method"] == "dpo" and copy["rows"] == 2 and copy["micro_batch_size"] == 1
    # The frozen copy of the weights is the difference (measured: 62 MiB of the 65 MiB of weights).
    assert _growth(copy) > _growth(precomputed) + 0.7 * weight_bytes


def test_dpo_lora_preflight_runs_2n_rows_and_the_reference_pass(tiny_model):
    shape = dict(data__max_length=1024, training__micro_batch_size=4)
    sft = _run(tiny_model, **shape)
    dpo = _dpo(tiny_model, False, **shape)
    assert (sft["rows"], dpo["rows"]) == (4, 8)
    # Twice the rows of activations (measured: 47 MiB for SFT, 90 MiB for DPO).
    assert _growth(dpo) > _growth(sft) + 25 * 2**20


def test_kto_preflight_runs_its_rows_and_their_mismatched_rows(tiny_model):
    kto = {"beta": 0.1, "label_smoothing": None, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": None,
           "desirable_weight": 1.0, "undesirable_weight": 1.0}
    result = _run(tiny_model, method="kto", init_from=None, preference=kto, data__max_length=256, training__micro_batch_size=2)
    assert result["method"] == "kto" and result["fits"] and not result["out_of_memory"]
    assert result["peak_bytes"] > result["baseline_bytes"]
