"""recipes/sft.py in-process: loss goes down, the right parameters move, accumulation is exact,
cancel and resume behave, errors carry their codes."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from whetstone_worker.errors import WorkerError


def test_loss_decreases_and_outputs_are_saved(make_config, run_sft, tmp_path):
    recorder, _ = run_sft(make_config(training__checkpoint_every=1000, training__packing=False), tmp_path)
    losses = [m["loss"] for m in recorder.of("metrics")]
    assert len(losses) == 84  # 111 samples, micro-batch 4, 3 epochs
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.7
    done = recorder.of("done")[-1]
    assert done["status"] == "completed" and done["result"]["steps"] == 84
    adapter = tmp_path / "outputs" / "adapter"
    assert done["result"]["adapter_path"] == str(adapter)
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= {p.name for p in adapter.iterdir()}
    assert [c["step"] for c in recorder.of("checkpoint")] == [84]  # always one at the end
    metrics = recorder.of("metrics")[-1]
    assert metrics["epoch"] == 3 and metrics["trained_tokens"] < metrics["tokens"] and metrics["eta_s"] == 0


def test_lora_moves_adapters_and_leaves_the_base_alone(make_config, run_sft, tiny_model, tmp_path, monkeypatch):
    from whetstone_worker import modeling

    initial = {}
    real_apply = modeling.apply_lora

    def apply_and_remember(model, lora):
        model = real_apply(model, lora)
        initial.update({n: p.detach().clone() for n, p in model.named_parameters()})
        return model

    monkeypatch.setattr(modeling, "apply_lora", apply_and_remember)
    _, recipe = run_sft(make_config(training__max_steps=3, training__checkpoint_every=1000), tmp_path)
    named = dict(recipe.model.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    for name, param in named.items():
        moved = not torch.equal(param, initial[name])
        assert moved == (name in trainable), name
    base = load_file(str(tiny_model / "model.safetensors"))
    frozen = {n.replace("base_model.model.", "").replace(".base_layer", ""): p for n, p in named.items() if n not in trainable}
    assert frozen.keys() == base.keys()
    for name, tensor in base.items():
        assert torch.equal(frozen[name], tensor), name


@pytest.mark.parametrize("packing", [False, True])
def test_gradient_accumulation_matches_a_bigger_micro_batch(make_config, run_sft, tmp_path, packing):
    """micro 4 × accum 1 and micro 2 × accum 2 see the same 4 samples (or packed rows); the step-1
    update must agree. Goldfish (golden config: hashed) stays on; NEFTune is off because its noise
    is drawn per batch shape, so two batchings of the same rows get different noise."""
    results = []
    for micro, accum in ((4, 1), (2, 2)):
        config = make_config(training__max_steps=1, training__micro_batch_size=micro, training__gradient_accumulation=accum,
                             training__checkpoint_every=1000, training__max_grad_norm=None, training__packing=packing,
                             training__neftune_alpha=0)
        recorder, recipe = run_sft(config, tmp_path / f"m{micro}")
        results.append((recorder.losses()[1], {n: p.detach().clone() for n, p in recipe.model.named_parameters() if p.requires_grad}))
    (loss_a, params_a), (loss_b, params_b) = results
    assert loss_a == pytest.approx(loss_b, abs=1e-6)
    for name in params_a:
        torch.testing.assert_close(params_a[name], params_b[name], atol=1e-7, rtol=1e-5)


def test_full_fine_tuning_saves_a_model_folder(make_config, run_sft, tmp_path):
    recorder, _ = run_sft(make_config(finetune="full", training__max_steps=2, training__checkpoint_every=1), tmp_path)
    done = recorder.of("done")[-1]
    assert done["result"]["model_path"] == str(tmp_path / "outputs" / "model")
    assert (tmp_path / "outputs" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "checkpoints" / "step-00000002" / "model" / "model.safetensors").is_file()


def test_cancel_writes_a_checkpoint_and_answers_cancelled(make_config, run_sft, tmp_path):
    from support import Recorder

    recorder = Recorder()
    cancelled = lambda: len(recorder.of("metrics")) >= 2  # noqa: E731
    run_sft(make_config(training__checkpoint_every=1000), tmp_path, cancelled=cancelled, recorder=recorder)
    done = recorder.of("done")[-1]
    assert done["status"] == "cancelled"
    assert done["result"] == {"steps": 2, "checkpoint": str(tmp_path / "checkpoints" / "step-00000002")}
    assert [c["step"] for c in recorder.of("checkpoint")] == [2]


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_resume_matches_the_uninterrupted_run_and_warns_about_changed_config(make_config, run_sft, tmp_path, finetune):
    config = make_config(finetune=finetune, training__max_steps=4, training__checkpoint_every=2)
    full, _ = run_sft(config, tmp_path / "a")
    run_sft(config, tmp_path / "b", cancelled=lambda: (tmp_path / "b" / "checkpoints" / "step-00000002").exists())
    changed = dict(config, training=dict(config["training"], learning_rate=0.5))
    resumed, _ = run_sft(changed, tmp_path / "b", resume=True)
    warnings = [e["message"] for e in resumed.of("log") if e["level"] == "warning"]
    assert any("training.learning_rate" in w and "checkpoint's value wins" in w for w in warnings)
    assert resumed.losses() == {s: full.losses()[s] for s in (3, 4)}
    assert resumed.of("metrics")[-1]["tokens"] == full.of("metrics")[-1]["tokens"]


def test_gradient_checkpointing_changes_memory_not_results(make_config, run_sft, tmp_path):
    losses = []
    for flag in (False, True):
        recorder, _ = run_sft(make_config(training__max_steps=2, training__gradient_checkpointing=flag), tmp_path / str(flag))
        losses.append(recorder.losses())
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)


def test_out_of_memory_names_the_phase_and_the_knobs(make_config, run_sft, tmp_path, monkeypatch):
    from whetstone_worker.recipes import sft

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(sft.F, "cross_entropy", no_memory)
    with pytest.raises(WorkerError) as info:
        run_sft(make_config(training__max_steps=2, training__chunked_loss=False), tmp_path)  # F.cross_entropy is the plain loss path
    err = info.value
    assert err.code == "OUT_OF_MEMORY" and "during forward" in err.message
    assert all(knob in err.hint for knob in ("micro_batch_size", "gradient_accumulation", "gradient_checkpointing", "max_length"))


def test_resume_without_checkpoint_starts_from_scratch_with_a_warning(make_config, run_sft, tmp_path):
    recorder, _ = run_sft(make_config(training__max_steps=1), tmp_path, resume=True)
    assert any("starting the run from scratch" in e["message"] for e in recorder.of("log"))
    assert recorder.of("done")[-1]["status"] == "completed"


def test_non_finite_loss_is_an_error_pointing_at_the_last_checkpoint(make_config, run_sft, tmp_path, monkeypatch):
    from whetstone_worker.recipes import sft

    real = sft.F.cross_entropy
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(sft.F, "cross_entropy", poisoned)
    with pytest.raises(WorkerError) as info:
        run_sft(make_config(training__checkpoint_every=2, training__chunked_loss=False), tmp_path)  # F.cross_entropy: plain loss path
    assert info.value.code == "NON_FINITE_LOSS" and info.value.recoverable is False
    assert "step 3" in info.value.message and "step-00000002" in info.value.message


def test_missing_model_and_missing_data(make_config, run_sft, tmp_path):
    with pytest.raises(WorkerError) as info:
        run_sft(make_config(model__path=str(tmp_path / "nope")), tmp_path)
    assert info.value.code == "MODEL_NOT_FOUND" and str(tmp_path / "nope") in info.value.message
    with pytest.raises(WorkerError) as info:
        run_sft(make_config(data__train=str(tmp_path / "none.jsonl")), tmp_path)
    assert info.value.code == "DATA_NOT_FOUND"


def test_checkpoint_state_records_position_and_counters(make_config, run_sft, tmp_path):
    run_sft(make_config(training__max_steps=3, training__gradient_accumulation=2, training__checkpoint_every=3), tmp_path)
    state = json.loads((tmp_path / "checkpoints" / "step-00000003" / "trainer_state.json").read_text())
    assert state["step"] == 3 and state["scheduler"] == {"kind": "cosine", "step": 3}
    # 111 samples packed into rows of 256 tokens: 5 micro-batches of 4 rows per epoch, so 6 consumed
    # micro-batches end 1 into epoch 1.
    position = {"epoch": 1, "micro_batch": 1, "micro_batches_consumed": 6, "micro_batches_in_epoch": 5, "packed": True}
    assert state["data_position"] == position
    assert state["tokens"] > state["trained_tokens"] > state["dropped_tokens"] > 0
    config = make_config(training__max_steps=3, training__gradient_accumulation=2, training__checkpoint_every=3, training__packing=False)
    run_sft(config, tmp_path / "u")
    state = json.loads((tmp_path / "u" / "checkpoints" / "step-00000003" / "trainer_state.json").read_text())
    position = {"epoch": 0, "micro_batch": 6, "micro_batches_consumed": 6, "micro_batches_in_epoch": 28, "packed": False}
    assert state["data_position"] == position


def test_packed_run_reports_rows_efficiency_and_goldfish_drops(make_config, run_sft, tmp_path):
    """The golden config trains packed, with goldfish (hashed, k 4) and NEFTune (alpha 5)."""
    recorder, recipe = run_sft(make_config(training__checkpoint_every=1000), tmp_path / "packed")
    metrics = recorder.of("metrics")
    assert recipe.layout == "sdpa" and len(metrics) == recipe.plan.total_steps == 15  # 19 rows per epoch → 5 micro-batches × 3
    assert metrics[-1]["epoch"] == 3 and metrics[-1]["loss"] < metrics[0]["loss"]  # 15 steps at lr 1e-3: only a little
    efficiency = [m["packing_efficiency"] for m in metrics]
    assert all(0 < e <= 1 for e in efficiency) and sum(efficiency) / len(efficiency) > 0.85
    data = [e["message"] for e in recorder.of("progress") if e["phase"] == "data"][-1]
    assert "packed 111 samples into 19 rows of 256 tokens" in data and "% filled" in data
    assert any("block-diagonal" in e["message"] for e in recorder.of("progress") if e["message"].startswith("Model ready"))

    # Goldfish moves trained tokens to dropped ones, about 1 in 4, and changes nothing else.
    plain, _ = run_sft(make_config(training__checkpoint_every=1000, training__goldfish=None), tmp_path / "plain")
    last, plain_last = metrics[-1], plain.of("metrics")[-1]
    assert last["trained_tokens"] + last["dropped_tokens"] == plain_last["trained_tokens"] and plain_last["dropped_tokens"] == 0
    assert last["tokens"] == plain_last["tokens"]
    assert 0.15 < last["dropped_tokens"] / plain_last["trained_tokens"] < 0.35


def test_neftune_noise_changes_training_but_not_the_data(make_config, run_sft, tmp_path):
    losses = {}
    for alpha in (0, 5, 5):
        recorder, _ = run_sft(make_config(training__max_steps=2, training__neftune_alpha=alpha), tmp_path / f"a{alpha}-{len(losses)}")
        losses.setdefault(alpha, []).append(recorder.losses())
    assert losses[5][0] == losses[5][1]  # same seed, same noise
    assert losses[5][0][1] != pytest.approx(losses[0][0][1], abs=1e-4)


def test_goldfish_context_beyond_32_is_refused(make_config):
    """The hashed key is an int64 product of h ids (as in the authors' code): past ~32 ids it wraps
    to 0 for most contexts and the mask degenerates, so the config refuses h > 32 by name."""
    from whetstone_worker.config import parse_run_config
    from whetstone_worker.validate import Invalid

    with pytest.raises(Invalid, match=r"training\.goldfish\.h: must be <= 32, got 64"):
        parse_run_config(make_config(training__goldfish={"k": 4, "h": 64, "variant": "hashed"}))


def test_validation_loss_at_checkpoints_without_goldfish_or_noise(make_config, run_sft, tmp_path):
    """val_loss rides on the metrics of checkpoint steps only; it counts every assistant token
    (goldfish does not apply to evaluation) and uses no randomness, so it is reproducible."""
    lines = TINY_CHAT_LINES()
    validation = tmp_path / "validation.jsonl"
    validation.write_text("".join(lines[:12]), encoding="utf-8")
    config = make_config(data__validation=str(validation), training__max_steps=6, training__checkpoint_every=3)
    recorder, recipe = run_sft(config, tmp_path / "run")
    with_val = {m["step"]: m["val_loss"] for m in recorder.of("metrics") if "val_loss" in m}
    assert list(with_val) == [3, 6]
    assert all(0 < v < 20 for v in with_val.values())
    # Recomputed by hand on the final weights: the same number, with goldfish left out.
    assert abs(recipe.validation_loss() - with_val[6]) < 1e-6
    assert recipe.model.training  # evaluation puts the model back in training mode


def TINY_CHAT_LINES() -> list[str]:
    from support import TINY_CHAT

    return TINY_CHAT.read_text(encoding="utf-8").splitlines(keepends=True)
