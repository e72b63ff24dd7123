"""generate.py in-process: greedy and seeded sampling are reproducible; a bad adapter path is named."""

from __future__ import annotations

import pytest
from support import Recorder

from whetstone_worker import generate
from whetstone_worker.errors import WorkerError

PROMPTS = [[{"role": "user", "content": "Name a prime number."}], [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]]


def answer(tiny_model, **overrides) -> list[dict]:
    command = {"model_path": str(tiny_model), "adapter_path": None, "prompts": PROMPTS, "max_new_tokens": 6,
               "temperature": 0, "top_p": 1, "seed": 0} | overrides
    recorder = Recorder()
    generate.run("gen", command, recorder.emitter, lambda: False)
    assert recorder.of("done")[-1]["result"] == {"count": 2}
    return recorder.of("generation")


def test_greedy_and_seeded_sampling_are_reproducible(tiny_model):
    greedy = answer(tiny_model)
    assert [g["index"] for g in greedy] == [0, 1] and all(0 < g["tokens"] <= 6 for g in greedy)
    assert answer(tiny_model) == greedy
    sampled = answer(tiny_model, temperature=1.0, top_p=0.9, seed=7)
    assert answer(tiny_model, temperature=1.0, top_p=0.9, seed=7) == sampled


def test_missing_adapter_is_model_not_found(tiny_model, tmp_path):
    with pytest.raises(WorkerError) as info:
        answer(tiny_model, adapter_path=str(tmp_path / "adapter"))
    assert info.value.code == "MODEL_NOT_FOUND" and str(tmp_path / "adapter") in info.value.message
