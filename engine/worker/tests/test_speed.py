"""The speed switches: the chunked loss changes nothing in a real run (goldfish mask and val_loss
included), and switches this platform cannot honour fail with what is missing and how to turn them off."""

from __future__ import annotations

import pytest
from support import TINY_CHAT

from whetstone_worker.errors import WorkerError


def test_chunked_loss_gives_the_same_run(make_config, run_sft, tmp_path):
    runs = {}
    for flag in (True, False):
        config = make_config(training__max_steps=3, training__checkpoint_every=3, training__chunked_loss=flag,
                             training__goldfish={"k": 3, "h": 4, "variant": "static"}, data__validation=str(TINY_CHAT))
        recorder, recipe = run_sft(config, tmp_path / str(flag))
        runs[flag] = [(e["loss"], e.get("val_loss")) for e in recorder.of("metrics")]
        assert (recipe.speed.head is not None) is flag
    assert runs[True][-1][1] is not None
    for (a, va), (b, vb) in zip(runs[True], runs[False]):
        assert a == pytest.approx(b, rel=1e-5)
        assert (va is None and vb is None) or va == pytest.approx(vb, rel=1e-5)


@pytest.mark.parametrize("overrides, needle", [
    ({"finetune": "qlora"}, "finetune: qlora needs an NVIDIA GPU"),
    ({"training__liger": True}, "training.liger needs CUDA"),
])
def test_unavailable_switches_say_so(make_config, run_sft, tmp_path, overrides, needle):
    with pytest.raises(WorkerError) as info:
        run_sft(make_config(training__max_steps=1, **overrides), tmp_path)
    assert info.value.code == "CONFIG_INVALID" and needle in info.value.message
    assert "lora" in info.value.hint or "false" in info.value.hint


def test_activation_offload_and_checkpointing_train_on_cpu(make_config, run_sft, tmp_path):
    recorder, recipe = run_sft(make_config(training__max_steps=2, training__activation_offload=True, training__gradient_checkpointing=True), tmp_path)
    assert recorder.of("done")[-1]["status"] == "completed"
    assert "activations offloaded" in recipe.speed.summary
