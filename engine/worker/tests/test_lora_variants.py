"""lora.variant: DoRA and rsLoRA train through PEFT's own flags and export with the merge they need;
a config stored before the field existed still parses as plain LoRA."""

from __future__ import annotations

import json

import pytest
import torch
from export_fixtures import CPU, logits, reference_model
from support import golden_config

from whetstone_worker import modeling
from whetstone_worker.config import parse_run_config
from whetstone_worker.jobs.export.source import WeightSource


def test_a_config_stored_before_the_variant_existed_is_plain_lora():
    raw = golden_config()
    del raw["lora"]["variant"]
    assert parse_run_config(raw).lora.variant == "lora"
    raw["lora"]["variant"] = "qlora"
    with pytest.raises(Exception, match="lora.variant"):
        parse_run_config(raw)


@pytest.mark.parametrize("variant, flags", [("dora", {"use_dora": True, "use_rslora": False}),
                                            ("rslora", {"use_dora": False, "use_rslora": True})])
def test_variant_trains_and_its_merge_equals_the_adapter(make_config, run_sft, tiny_model, tmp_path, variant, flags):
    recorder, recipe = run_sft(make_config(training__max_steps=3, training__checkpoint_every=3, training__learning_rate=0.01,
                                           lora__variant=variant), tmp_path)
    assert recorder.of("done")[-1]["status"] == "completed"
    trainable = {n for n, p in recipe.model.named_parameters() if p.requires_grad}
    assert any("lora_magnitude_vector" in n for n in trainable) is (variant == "dora")
    adapter = tmp_path / "outputs" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert {k: config[k] for k in flags} == flags
    # The trained adapter moved the model, and the streamed merge reproduces base + adapter through PEFT.
    expected = logits(reference_model(tiny_model, adapter))
    base = modeling.load_model(tiny_model, torch.float32, False, CPU).eval()
    before = logits(base)
    base.load_state_dict({ref.name: tensor for ref, tensor in WeightSource(tiny_model, adapter, "adapter")})
    assert (expected - before).abs().max().item() > 1e-3
    assert (logits(base) - expected).abs().max().item() < 1e-4
