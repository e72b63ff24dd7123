"""GRPO's reward functions (whetstone_worker/rewards.py): the built-ins on rows in public datasets' shapes
(GSM8K's question/answer with its "#### N" final line), a user's reward file and how its failures are
reported, and how rewards combine."""

from __future__ import annotations

import math

import pytest

from whetstone_worker import rewards as R
from whetstone_worker.errors import WorkerError

# GSM8K (openai/gsm8k, main, train row 0), as the dataset stores it.
GSM8K = {
    "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to her friends in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
}


def _score(spec, completions, rows):
    (reward,) = R.build([spec])
    return reward.score([""] * len(completions), completions, rows)


def test_numeric_reads_gsm8k_final_answers():
    completions = [
        "She sold 24 in May, so 48 + 24 = 72.",  # last number
        "#### 72",
        "The answer is 72.0",
        "She sold 24 clips in May.",  # wrong: the last number is 24
        "I do not know.",  # no number at all
    ]
    assert _score({"type": "numeric", "field": "answer"}, completions, [GSM8K] * 5) == [1.0, 1.0, 1.0, 0.0, 0.0]
    # An explicit pattern: only what follows "####" counts.
    hashes = {"type": "numeric", "field": "answer", "pattern": r"####\s*(\S+)"}
    assert _score(hashes, completions[:2], [GSM8K] * 2) == [0.0, 1.0]


def test_numeric_understands_thousands_and_decimal_commas_and_tolerance():
    rows = [{"answer": "1234"}, {"answer": "3.5"}, {"answer": 0.3333}]
    completions = ["It costs 1,234 dollars.", "About 3,5 litres", "one third: 0.33333"]
    assert _score({"type": "numeric", "field": "answer", "tolerance": 1e-3}, completions, rows) == [1.0, 1.0, 1.0]
    assert _score({"type": "numeric", "field": "answer", "tolerance": 1e-6}, completions, rows) == [1.0, 1.0, 0.0]


def test_exact_match_extracts_with_the_pattern_and_ignores_case_unless_asked():
    rows = [{"label": "Positive"}] * 3
    completions = ["Sentiment: positive", "Sentiment: NEGATIVE", "no label here"]
    spec = {"type": "exact_match", "field": "label", "pattern": r"Sentiment:\s*(\w+)"}
    assert _score(spec, completions, rows) == [1.0, 0.0, 0.0]
    assert _score({**spec, "case_sensitive": True}, completions, rows) == [0.0, 0.0, 0.0]
    assert _score({"type": "exact_match", "field": "label"}, ["  positive \n"], rows[:1]) == [1.0]  # whole completion


def test_format_and_length():
    think = {"type": "format", "pattern": r"(?s)^<think>.+?</think>\s*\S"}
    assert _score(think, ["<think>a\nb</think> 72", "72", "<think></think>"], [{}] * 3) == [1.0, 0.0, 0.0]
    assert _score({"type": "length", "max_chars": 10}, ["short", "x" * 10, "x" * 15, "x" * 30], [{}] * 4) == [0.0, 0.0, -0.5, -2.0]


def test_missing_fields_and_bad_settings_name_the_reward_and_row():
    with pytest.raises(WorkerError) as e:
        _score({"type": "numeric", "field": "answer"}, ["1", "2"], [{"answer": "1"}, {"question": "?"}])
    assert e.value.code == "REWARD_FIELD_MISSING" and "reward 1 (numeric): row 2" in e.value.message and "`answer`" in e.value.message
    with pytest.raises(WorkerError) as e:
        _score({"type": "numeric", "field": "answer"}, ["1"], [{"answer": "no digits"}])
    assert e.value.code == "REWARD_FIELD_INVALID"
    with pytest.raises(WorkerError) as e:
        R.build([{"type": "format", "pattern": "(unclosed"}])
    assert e.value.code == "REWARD_INVALID" and "(unclosed" in e.value.message
    with pytest.raises(WorkerError) as e:
        R.build([{"type": "bleu"}])
    assert "exact_match, numeric, format, length, judge, python" in e.value.hint
    with pytest.raises(WorkerError) as e:
        R.build([])
    assert e.value.code == "REWARD_MISSING"


def test_a_user_reward_file_gets_the_fields_and_its_failures_name_the_row(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(
        "def reward(prompts, completions, answer, **fields):\n"
        "    return [1.0 if c.strip().endswith(str(a)) else (None if not c else 0.0) for c, a in zip(completions, answer)]\n"
        "def picky(prompts, completions, **fields):\n"
        "    return [1.0 / len(c) for c in completions]\n"
        "def short(prompts, completions, **fields):\n"
        "    return [1.0]\n"
        "def words(prompts, completions, **fields):\n"
        "    return ['good' for c in completions]\n"
    )
    rows = [{"answer": 4, "__row__": 11}, {"answer": 5, "__row__": 12}, {"answer": 6, "__row__": 13}]
    assert _score({"type": "python", "file": str(path)}, ["2+2=4", "nope", ""], rows) == [1.0, 0.0, None]

    with pytest.raises(WorkerError) as e:
        _score({"type": "python", "file": str(path), "function": "picky"}, ["ok", "", "fine"], rows)
    assert e.value.code == "REWARD_FAILED"
    assert "my_rewards.py:picky raised ZeroDivisionError" in e.value.message and "first on row 12" in e.value.message
    with pytest.raises(WorkerError, match="returned 1 values for 3 completions"):
        _score({"type": "python", "file": str(path), "function": "short"}, ["a", "b", "c"], rows)
    with pytest.raises(WorkerError, match="returned 'good' for row 11"):
        _score({"type": "python", "file": str(path), "function": "words"}, ["a", "b", "c"], rows)
    with pytest.raises(WorkerError) as e:
        R.build([{"type": "python", "file": str(path), "function": "absent"}])
    assert e.value.code == "REWARD_INVALID" and "def absent(prompts, completions, **fields)" in e.value.hint
    with pytest.raises(WorkerError) as e:
        R.build([{"type": "python", "file": str(tmp_path / "gone.py")}])
    assert e.value.code == "REWARD_FILE_NOT_FOUND"
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(WorkerError) as e:
        R.build([{"type": "python", "file": str(broken)}])
    assert e.value.code == "REWARD_FAILED" and "ModuleNotFoundError" in e.value.message


def test_rewards_combine_by_weight_and_an_all_abstaining_completion_is_unscorable(tmp_path):
    path = tmp_path / "abstain.py"
    path.write_text("def reward(prompts, completions, **fields):\n    return [None if c == '?' else 0.5 for c in completions]\n")
    rewards = R.build([{"type": "python", "file": str(path), "weight": 2.0}, {"type": "length", "max_chars": 1, "weight": 0.5}])
    per, total = R.score_all(rewards, ["p"] * 2, ["ab", "?"], [{}, {}])
    assert per[0][0] == 0.5 and math.isnan(per[0][1]) and per[1] == [-1.0, 0.0]
    assert total == [2.0 * 0.5 + 0.5 * -1.0, 0.0]  # the abstaining reward is left out, the other still scores
    only = R.build([{"type": "python", "file": str(path)}])
    _, total = R.score_all(only, ["p"], ["?"], [{}])
    assert math.isnan(total[0])
