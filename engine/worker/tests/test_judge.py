"""The worker's judge (grpo's `judge` reward) is the engine's: the same prompt and verdict spellings
(tests/fixtures/judge/prompt-v1.json, which the engine's suite checks too), and on the tiny judge the
same probabilities (tests/engine/grpo/judge-reward.test.ts runs both). Here: the prompt, the reward's
bounds and abstentions, and a grpo run scored by the judge against each row's reference answer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from recipes.test_grpo import GRPO
from recipes.test_preference import run_pref

from whetstone_worker import judge, rewards

REPO = Path(__file__).resolve().parents[3]
FIXTURE = json.loads((REPO / "tests" / "fixtures" / "judge" / "prompt-v1.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def tiny_judge(tiny_model, tmp_path_factory) -> Path:
    """The tiny model exported to ONNX by our own export job: a judge folder in the transformers.js layout."""
    from whetstone_worker.jobs.export import job
    from whetstone_worker.protocol import Emitter

    out = tmp_path_factory.mktemp("judge") / "tiny-judge"
    command = {"model_path": str(tiny_model), "tuned_path": str(tiny_model), "tuned_kind": "model", "format": "onnx", "out_dir": str(out),
               "dtype": "float32", "quantization": None, "shard_size_mb": 1000, "overwrite": True, "card": {"name": "tiny-judge", "base_model": str(tiny_model)}}
    job.run("tiny-judge", command, Emitter(lambda line: None), lambda: False)
    return out


def test_the_prompt_and_spellings_are_the_engines():
    assert list(judge.CRITERIA) == FIXTURE["criteria"] and list(judge.VERDICTS) == FIXTURE["verdicts"]
    assert judge.SPELLINGS == FIXTURE["spellings"] and judge.MAX_RESPONSE_CHARS == FIXTURE["max_response_chars"]
    for case in FIXTURE["cases"]:  # one of them is cut at 4,000 UTF-16 units, as JavaScript counts
        assert judge.judge_messages(case["instruction"], case["first"], case["second"]) == case["messages"]


def test_the_reward_is_a_preference_from_both_orders_and_abstains_without_a_reference(tiny_judge):
    j = judge.OnnxJudge(tiny_judge)
    forward = j.order(judge.judge_messages("Name a colour.", "Red.", "Blue."))
    assert math.isclose(forward["first"] + forward["second"] + forward["tie"], 1.0, rel_tol=1e-9) and forward["mass"] > 0
    p = j.prefer("Name a colour.", "Red.", "Blue.")
    q = j.prefer("Name a colour.", "Blue.", "Red.")
    assert 0 <= p <= 1 and math.isclose(p + q, 1.0, rel_tol=1e-9)  # swapping the two answers mirrors the preference
    [score] = [r.score for r in rewards.build([{"type": "judge", "field": "reference", "judge": str(tiny_judge), "weight": 1.0}])]
    rows = [{"reference": "Blue.", "__prompt__": "Name a colour."}, {"__prompt__": "Name a colour."}, {"reference": "  ", "__prompt__": "x"}]
    values = score(["<rendered>"] * 3, ["Red.", "Red.", "Red."], rows)
    assert values[0] == pytest.approx(p, abs=1e-12) and values[1] is None and values[2] is None


def test_a_grpo_run_is_scored_by_the_judge_against_each_rows_reference(make_config, tiny_judge, tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Say something about {w}."}, {"role": "assistant", "content": f"{w} is fine."}]}
            for w in ("tea", "rain", "maps", "jazz")]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = make_config(method="grpo", data__train=str(tmp_path / "train.jsonl"), data__max_length=64, training__max_steps=2,
                         training__micro_batch_size=2, training__learning_rate=1e-2, training__neftune_alpha=0, training__goldfish=None,
                         training__packing=False, training__checkpoint_every=2)
    config["preference"] = dict(GRPO, num_generations=4, max_completion_tokens=4)
    config["init_from"] = None
    config["rewards"] = [{"type": "judge", "field": "reference", "judge": str(tiny_judge), "weight": 1.0}]
    recorder, _ = run_pref(config, tmp_path / "run")
    metrics = recorder.of("metrics")
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert 0 <= m["reward/judge"] <= 1 and m["reward"] == pytest.approx(m["reward/judge"])
