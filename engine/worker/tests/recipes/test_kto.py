"""KTO in the preference recipe on the tiny model: held-out accuracy from chance to > 90% on the same
yes/no rule the pair methods learn (split into unpaired rows labelled true/false), exact resume, full
fine-tuning with a frozen reference, and rows that cannot train refused with their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recipes.test_preference import WORDS, assert_resume_is_exact, run_pref

from whetstone_worker.errors import WorkerError

KTO = {"beta": 0.1, "label_smoothing": None, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": None,
       "desirable_weight": 1.0, "undesirable_weight": 1.0}


def _rows(words: list[str]) -> str:
    # Each pair of the preference tests as two unpaired rows: the answer the prompt asks for (true), the other (false).
    rows = []
    for i, w in enumerate(words):
        good, bad = ("yes", "no") if i % 2 == 0 else ("no", "yes")
        prompt = {"role": "user", "content": f"Reply {good} about the {w}."}
        rows += [{"messages": [prompt, {"role": "assistant", "content": good}], "label": True},
                 {"messages": [prompt, {"role": "assistant", "content": bad}], "label": False}]
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def kto_config(make_config, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kto")
    (folder / "train.jsonl").write_text(_rows(WORDS[:24]))
    (folder / "val.jsonl").write_text(_rows(WORDS[24:]))

    def make(**overrides) -> dict:
        settings = dict(method="kto", data__train=str(folder / "train.jsonl"), data__validation=str(folder / "val.jsonl"),
                        data__max_length=64, training__max_steps=12, training__micro_batch_size=8,
                        training__learning_rate=5e-3, training__warmup_ratio=0.0, training__neftune_alpha=0,
                        training__goldfish=None, training__packing=False, training__checkpoint_every=12)
        config = make_config(**{**settings, **overrides})
        config["preference"] = dict(KTO, **(overrides.get("preference") or {}))
        config["init_from"] = None
        return config

    return make


def test_held_out_accuracy_rises_from_chance_to_above_90_percent(kto_config, tmp_path):
    recorder, recipe = run_pref(kto_config(), tmp_path)
    assert recipe.initial_eval["val_rewards/accuracy"] == pytest.approx(0.5)  # policy = reference: every row ties
    after = recorder.of("metrics")[-1]
    assert after["val_rewards/accuracy"] > 0.9, after
    assert after["rewards/chosen"] > 0 > after["rewards/rejected"]
    for key in ("kl", "rewards/margin", "rewards/accuracy", "loss", "grad_norm", "trained_tokens"):
        assert key in after
    assert recorder.of("done")[0]["status"] == "completed"


def test_resume_equals_the_uninterrupted_run(kto_config, tmp_path):
    assert_resume_is_exact(kto_config(training__max_steps=6, training__checkpoint_every=3), tmp_path, ("loss", "kl", "rewards/margin", "grad_norm"))


def test_full_fine_tuning_uses_a_frozen_reference(kto_config, tmp_path):
    recorder, recipe = run_pref(kto_config(finetune="full", training__max_steps=2, training__learning_rate=1e-4), tmp_path)
    assert recipe.policy.reference is not None and not any(p.requires_grad for p in recipe.policy.reference.parameters())
    assert recorder.of("done")[0]["status"] == "completed"


def test_rows_without_a_label_or_an_answer_are_refused_with_their_line(kto_config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n")
    with pytest.raises(WorkerError) as info:
        run_pref(kto_config(data__train=str(bad), data__validation=None), tmp_path / "a")
    assert info.value.code == "DATA_METHOD_MISMATCH" and f"{bad}:1" in info.value.message
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}], "label": True}) + "\n")
    with pytest.raises(WorkerError) as info:
        run_pref(kto_config(data__train=str(bad), data__validation=None), tmp_path / "b")
    assert info.value.code == "DATA_INVALID" and "ends with the assistant answer" in info.value.message
