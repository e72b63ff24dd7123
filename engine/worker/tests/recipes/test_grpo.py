"""GRPO on the tiny model with a verifiable toy task: every prompt asks for a word that starts with a letter (the
row's `letter`, "s") and the reward is 1 when the reply does (exact_match on its first letter). The random
model starts near chance (s opens ~6% of its 1,000 tokens) and has only its own samples to learn from.
Also: exact resume (sampling and training), the KL term with its reference (adapter disabled, or a frozen
copy for full fine-tuning), num_iterations > 1 (the clip at work), and prompts that cannot train.

A prompt-dependent version (three letters) learns too, but slowly: 0.05 → ~0.4 in 30 steps, too slow
for a test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from recipes.test_preference import WORDS, assert_resume_is_exact, run_pref

from whetstone_worker.errors import WorkerError

LETTERS = ["s"]
GRPO = {"beta": 0.0, "label_smoothing": None, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": None,
        "desirable_weight": None, "undesirable_weight": None, "num_generations": 16, "max_completion_tokens": 2,
        "temperature": 1.0, "top_p": 1.0, "epsilon": 0.2, "epsilon_high": None, "num_iterations": 1, "loss_type": "grpo",
        "scale_rewards": "group"}
FIRST_LETTER = {"type": "exact_match", "field": "letter", "pattern": r"^\W*(\w)", "weight": 1.0}


def prompt_rows(n: int) -> str:
    rows = []
    for i in range(n):
        letter = LETTERS[i % len(LETTERS)]
        rows.append({"prompt": f"Describe the {WORDS[i % len(WORDS)]} with a word that starts with {letter}.", "letter": letter})
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def grpo_config(make_config, tmp_path_factory):
    folder = tmp_path_factory.mktemp("grpo")
    (folder / "train.jsonl").write_text(prompt_rows(24))

    def make(preference: dict | None = None, **overrides) -> dict:
        settings = dict(method="grpo", data__train=str(folder / "train.jsonl"), data__max_length=64, training__max_steps=30,
                        training__micro_batch_size=4, training__learning_rate=2e-2, training__warmup_ratio=0.0,
                        training__neftune_alpha=0, training__goldfish=None, training__packing=False, training__checkpoint_every=30)
        config = make_config(**{**settings, **overrides})
        config["preference"] = dict(GRPO, **(preference or {}))
        config["init_from"] = None
        config["rewards"] = [FIRST_LETTER]
        return config

    return make


def test_mean_reward_rises_from_chance_to_above_80_percent(grpo_config, tmp_path):
    recorder, _ = run_pref(grpo_config(), tmp_path)
    rows = recorder.of("metrics")
    first = sum(r["reward"] for r in rows[:3]) / 3
    last = sum(r["reward"] for r in rows[-3:]) / 3
    print("reward per step:", [round(r["reward"], 2) for r in rows])
    assert first <= 0.2, first
    assert last >= 0.8, last
    for key in ("reward_std", "reward/exact_match", "completion_length", "clip_ratio", "frac_reward_zero_std", "loss", "grad_norm"):
        assert key in rows[-1], key
    assert recorder.of("done")[0]["status"] == "completed"
    # Every 10th round's first prompt, its completions and their rewards, for the run's page.
    logged = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [r["round"] for r in logged] == [1, 11, 21]
    assert all(len(r["completions"]) == 16 and "starts with s." in r["prompt"] for r in logged)
    for c in logged[0]["completions"]:
        assert set(c) == {"text", "reward", "rewards"} and set(c["rewards"]) == {"exact_match"}
        first = re.match(r"^\W*(\w)", c["text"])
        assert c["reward"] == c["rewards"]["exact_match"] == float(first is not None and first.group(1).lower() == "s")


def test_resume_equals_the_uninterrupted_run(grpo_config, tmp_path):
    """Stopped at the checkpoint after step 3, in the middle of a round trained twice (num_iterations 2): the
    resumed run samples and trains what the uninterrupted one did, step for step."""
    config = grpo_config({"num_iterations": 2}, training__max_steps=6, training__checkpoint_every=3)
    whole = assert_resume_is_exact(config, tmp_path, ("loss", "reward", "clip_ratio", "grad_norm", "completion_length"))
    # The second pass over a round is off-policy: its ratios move and some are clipped.
    assert any(m["clip_ratio"] > 0 for m in whole.of("metrics")[1::2])


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_the_kl_term_runs_the_reference(grpo_config, tmp_path, finetune):
    recorder, recipe = run_pref(grpo_config({"beta": 0.1}, finetune=finetune, training__max_steps=3), tmp_path)
    rows = recorder.of("metrics")
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # the policy starts as the reference
    assert rows[-1]["kl"] > 0
    assert (recipe.policy.reference is not None) == (finetune == "full")  # LoRA: the adapter disabled, no copy


def test_prompts_that_cannot_train_are_refused_with_their_line(grpo_config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "ok", "letter": "s"}) + "\n" + json.dumps({"question": "no prompt"}) + "\n")
    with pytest.raises(WorkerError) as e:
        run_pref(grpo_config(data__train=str(bad)), tmp_path / "run")
    assert e.value.code == "DATA_METHOD_MISMATCH" and f"{bad}:2" in e.value.message
    long = tmp_path / "long.jsonl"
    long.write_text(json.dumps({"prompt": " ".join(WORDS * 3), "letter": "s"}) + "\n")
    with pytest.raises(WorkerError) as e:
        run_pref(grpo_config(data__train=str(long), data__overlong="error"), tmp_path / "run2")
    assert e.value.code == "DATA_TOO_LONG" and "2 completion tokens" in e.value.message
    chat = tmp_path / "chat.jsonl"  # a chat row: trained on the prompt, its answer kept as `reference`
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": "Say s."}, {"role": "assistant", "content": "sun"}], "letter": "s"}) + "\n")
    from whetstone_worker.data.prompts import build_prompts
    from whetstone_worker.modeling import load_tokenizer

    rows, _ = build_prompts(load_tokenizer(grpo_config()["model"]["path"], False), chat, 64, 2, "drop")
    assert rows[0].fields == {"letter": "s", "reference": "sun", "__row__": 1, "__prompt__": "Say s."}
    assert rows[0].text.endswith("<|im_start|>assistant\n")


def test_a_failing_reward_names_its_row(grpo_config, tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text("def reward(prompts, completions, letter, **f):\n    return [1 / 0 for c in completions]\n")
    config = grpo_config(training__max_steps=1)
    config["rewards"] = [{"type": "python", "file": str(reward)}]
    with pytest.raises(WorkerError) as e:
        run_pref(config, tmp_path / "run")
    assert e.value.code == "REWARD_FAILED" and "reward.py:reward raised ZeroDivisionError" in e.value.message and "first on row" in e.value.message
