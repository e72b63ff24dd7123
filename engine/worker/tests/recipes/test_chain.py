"""Chained preference runs write outputs/adapter as ONE PEFT adapter on model.path: loaded on the raw
base it gives the logits of base + merged parent adapter + the run's own adapter (fp32, ≤ 1e-5),
across partly overlapping targets, per-module ranks and alphas and rsLoRA; a model folder as
init_from becomes the adapter's base; adapters that cannot be combined are refused up front."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_preference import pair_files, pref_config, run_pref  # noqa: F401 (fixtures)

from whetstone_worker import modeling
from whetstone_worker.errors import WorkerError

CPU = torch.device("cpu")


def _load(path) -> torch.nn.Module:
    return modeling.load_model(path, torch.float32, False, CPU)


@pytest.fixture
def ids(tiny_tokenizer) -> torch.Tensor:
    return torch.tensor([tiny_tokenizer("Reply yes about the violin. Then no about the cactus.")["input_ids"]])


@torch.no_grad()
def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    return model.eval()(input_ids=ids).logits.float()


def _assert_chained_output_is_exact(tiny_model: Path, parent: Path, run_dir: Path, recipe, ids: torch.Tensor) -> dict:
    from peft import PeftModel

    combined = _logits(PeftModel.from_pretrained(_load(tiny_model), str(run_dir / "outputs" / "adapter")), ids)
    merged = PeftModel.from_pretrained(_load(tiny_model), str(parent)).merge_and_unload()
    parent_only = _logits(merged, ids)
    own = max((run_dir / "checkpoints").iterdir())  # the last checkpoint: the trainable adapter alone
    expected = _logits(PeftModel.from_pretrained(merged, str(own / "adapter")), ids)
    assert (combined - expected).abs().max() <= 1e-5
    assert (_logits(recipe.model, ids) - expected).abs().max() <= 1e-5
    # Both updates are present: neither the raw base nor the parent alone gives these logits.
    assert (expected - parent_only).abs().max() > 1e-4
    assert (parent_only - _logits(_load(tiny_model), ids)).abs().max() > 1e-4
    return json.loads((run_dir / "outputs" / "adapter" / "adapter_config.json").read_text())


def test_adapter_chained_from_an_sft_adapter_carries_both_updates_on_model_path(
        make_config, run_sft, pref_config, tiny_model, ids, tmp_path):  # noqa: F811
    # Partly overlapping targets: q only in the parent, o only in the DPO run, v in both (zero blocks elsewhere).
    run_sft(make_config(training__max_steps=2, training__packing=False, lora__r=4, lora__target_modules=["q_proj", "v_proj"]),
            tmp_path / "sft")
    parent = tmp_path / "sft" / "outputs" / "adapter"
    config = pref_config("dpo", training__max_steps=2, training__checkpoint_every=2, lora__r=2,
                         lora__target_modules=["v_proj", "o_proj"], init_from=str(parent))
    _, recipe = run_pref(config, tmp_path / "dpo")
    saved = _assert_chained_output_is_exact(tiny_model, parent, tmp_path / "dpo", recipe, ids)
    assert (saved["r"], saved["lora_alpha"], saved["use_rslora"], saved["rank_pattern"]) == (6, 6, False, {})
    assert saved["base_model_name_or_path"] == str(tiny_model)
    assert {t.rsplit(".", 1)[-1] for t in saved["target_modules"]} == {"q_proj", "v_proj", "o_proj"}
    assert (tmp_path / "dpo" / "outputs" / "adapter" / "tokenizer_config.json").is_file()


def test_per_module_ranks_alphas_and_rslora_of_the_parent_are_folded_in_exactly(pref_config, tiny_model, ids, tmp_path):  # noqa: F811
    from peft import LoraConfig, get_peft_model

    parent = tmp_path / "parent"
    lora = LoraConfig(r=4, lora_alpha=8, rank_pattern={"q_proj": 2}, alpha_pattern={"q_proj": 3}, use_rslora=True,
                      target_modules=["q_proj", "k_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(_load(tiny_model), lora)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    model.save_pretrained(str(parent))
    _, recipe = run_pref(pref_config("simpo", training__max_steps=2, training__checkpoint_every=2, lora__r=2, init_from=str(parent)),
                         tmp_path / "simpo")
    saved = _assert_chained_output_is_exact(tiny_model, parent, tmp_path / "simpo", recipe, ids)
    # q: 2 + 2, k: 4 + 2, modules only the run targets: 4 (zeros) + 2.
    assert saved["r"] == saved["lora_alpha"] == 6 and not saved["use_rslora"]
    assert saved["rank_pattern"] == saved["alpha_pattern"] and set(saved["rank_pattern"].values()) == {4}
    assert all("q_proj" in key for key in saved["rank_pattern"])


def test_a_model_folder_as_init_from_is_the_adapters_base(pref_config, tiny_model, tmp_path):  # noqa: F811
    full = tmp_path / "full-sft"
    shutil.copytree(tiny_model, full)
    run_pref(pref_config("dpo", training__max_steps=1, init_from=str(full)), tmp_path / "dpo")
    saved = json.loads((tmp_path / "dpo" / "outputs" / "adapter" / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(full) and saved["r"] == 8


def test_a_parent_adapter_that_cannot_be_combined_is_refused_before_training(pref_config, tiny_model, tmp_path):  # noqa: F811
    from peft import LoraConfig, get_peft_model

    parent = tmp_path / "parent"
    lora = LoraConfig(r=2, target_modules=["q_proj"], modules_to_save=["lm_head"], task_type="CAUSAL_LM")
    get_peft_model(_load(tiny_model), lora).save_pretrained(str(parent))
    with pytest.raises(WorkerError) as err:
        run_pref(pref_config("dpo", training__max_steps=1, init_from=str(parent)), tmp_path / "dpo")
    assert err.value.code == "CONFIG_INVALID"
    assert "modules_to_save" in err.value.message and str(parent) in err.value.message
    assert not (tmp_path / "dpo" / "checkpoints").exists()


def test_a_chained_run_resumes_exactly_and_writes_the_same_combined_adapter(make_config, run_sft, pref_config, tmp_path):  # noqa: F811
    from safetensors.torch import load_file

    run_sft(make_config(training__max_steps=1, training__packing=False, lora__r=2), tmp_path / "sft")
    config = pref_config("dpo", training__max_steps=4, training__checkpoint_every=2, lora__r=2,
                         init_from=str(tmp_path / "sft" / "outputs" / "adapter"))
    whole, _ = run_pref(config, tmp_path / "a")
    run_pref(config, tmp_path / "b", cancelled=lambda: (tmp_path / "b" / "checkpoints" / "step-00000002").exists())
    assert not (tmp_path / "b" / "outputs").exists()
    # The checkpoint holds the run's own adapter only (rank 2), not the combined one.
    assert json.loads((tmp_path / "b" / "checkpoints" / "step-00000002" / "adapter" / "adapter_config.json").read_text())["r"] == 2
    resumed, _ = run_pref(config, tmp_path / "b", resume=True)
    expected = {m["step"]: m["loss"] for m in whole.of("metrics")}
    assert [m["loss"] for m in resumed.of("metrics")] == pytest.approx([expected[3], expected[4]], rel=1e-6)
    a, b = (load_file(str(tmp_path / run / "outputs" / "adapter" / "adapter_model.safetensors")) for run in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-6, atol=1e-8) for k in a)
    assert json.loads((tmp_path / "b" / "outputs" / "adapter" / "adapter_config.json").read_text())["r"] == 4
