"""data/chat.py: the prefix-diff segment rule, per-segment tokenization, overlong and empty policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whetstone_worker.data.chat import build_samples, render, render_segments, tokenize_segments
from whetstone_worker.errors import WorkerError

SYSTEM = {"role": "system", "content": "Be brief."}
Q1 = {"role": "user", "content": "What is 2 plus 2?"}
A1 = {"role": "assistant", "content": "It is 4."}
Q2 = {"role": "user", "content": "And times 3?"}
A2 = {"role": "assistant", "content": "It is 12."}


def trained_text(tokenizer, messages) -> list[str]:
    ids, trained = tokenize_segments(tokenizer, render_segments(tokenizer, messages))
    runs, current = [], []
    for token, flag in zip(ids.tolist(), trained.tolist()):
        if flag:
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def write_jsonl(path: Path, conversations: list[list[dict]]) -> Path:
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations), encoding="utf-8")
    return path


def test_segments_reassemble_the_rendering(tiny_tokenizer):
    messages = [SYSTEM, Q1, A1, Q2, A2]
    segments = render_segments(tiny_tokenizer, messages)
    assert "".join(text for text, _ in segments) == render(tiny_tokenizer, messages)
    assert [flag for _, flag in segments] == [False, True, False, True]


def test_only_the_assistant_answer_is_trained(tiny_tokenizer):
    assert trained_text(tiny_tokenizer, [Q1, A1]) == ["It is 4.<|im_end|>\n"]


def test_multi_turn_trains_every_answer_and_no_question(tiny_tokenizer):
    assert trained_text(tiny_tokenizer, [Q1, A1, Q2, A2]) == ["It is 4.<|im_end|>\n", "It is 12.<|im_end|>\n"]


def test_system_message_is_not_trained(tiny_tokenizer):
    segments = render_segments(tiny_tokenizer, [SYSTEM, Q1, A1])
    assert segments[0] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n", False)
    assert trained_text(tiny_tokenizer, [SYSTEM, Q1, A1]) == ["It is 4.<|im_end|>\n"]


def test_each_segment_is_tokenized_separately(tiny_tokenizer):
    segments = [("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", False), ("Hello!<|im_end|>\n", True)]
    ids, trained = tokenize_segments(tiny_tokenizer, segments)
    first = tiny_tokenizer(segments[0][0], add_special_tokens=False)["input_ids"]
    second = tiny_tokenizer(segments[1][0], add_special_tokens=False)["input_ids"]
    assert ids.tolist() == first + second
    assert trained.tolist() == [False] * len(first) + [True] * len(second)


def test_a_template_that_rewrites_earlier_turns_is_an_error_naming_the_sample(tiny_model, tmp_path):
    from whetstone_worker.modeling import load_tokenizer

    tokenizer = load_tokenizer(tiny_model, trust_remote_code=False)
    # Marks the last message, so a conversation's rendering is not a prefix of its continuation's.
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] }}{% if loop.last %} [last]{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    data = write_jsonl(tmp_path / "train.jsonl", [[Q1, A1], [Q1, A1, Q2, A2]])
    with pytest.raises(WorkerError) as info:
        build_samples(tokenizer, data, 256, "drop")
    assert info.value.code == "TEMPLATE_ERROR"
    assert f"{data}:1" in info.value.message


def test_overlong_policies(tiny_tokenizer, tmp_path):
    long_answer = {"role": "assistant", "content": "word " * 200}
    data = write_jsonl(tmp_path / "train.jsonl", [[Q1, A1], [Q1, long_answer], [Q2, A2]])

    samples, report = build_samples(tiny_tokenizer, data, 64, "drop")
    assert [s.line for s in samples] == [1, 3]
    assert report.dropped["too_long"] == 1 and report.kept == 2

    samples, report = build_samples(tiny_tokenizer, data, 64, "truncate")
    assert [len(s.ids) for s in samples][1] == 64
    assert report.truncated == 1 and report.kept == 3

    with pytest.raises(WorkerError) as info:
        build_samples(tiny_tokenizer, data, 64, "error")
    assert info.value.code == "DATA_TOO_LONG" and f"{data}:2" in info.value.message


def test_samples_without_trained_tokens_are_dropped_and_counted(tiny_tokenizer, tmp_path):
    long_question = {"role": "user", "content": "why " * 100}
    # Line 2 has no assistant turn; line 3 loses its answer to truncation.
    data = write_jsonl(tmp_path / "train.jsonl", [[Q1, A1], [SYSTEM, Q1], [long_question, A1]])
    samples, report = build_samples(tiny_tokenizer, data, 32, "truncate")
    assert [s.line for s in samples] == [1]
    assert report.dropped["no_trained_tokens"] == 2


def test_nothing_left_is_data_empty_with_counts(tiny_tokenizer, tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", [[SYSTEM, Q1], [Q1, {"role": "assistant", "content": "x " * 300}]])
    with pytest.raises(WorkerError) as info:
        build_samples(tiny_tokenizer, data, 64, "drop")
    assert info.value.code == "DATA_EMPTY"
    assert "2 read" in info.value.message
    assert "1 no trained tokens" in info.value.message and "1 too long" in info.value.message


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"messages": [}\n', ":3:15: not valid JSON"),
        ('{"text": "hi"}\n', "non-empty 'messages'"),
        ('{"messages": [{"role": "user"}]}\n', "messages[0]"),
    ],
)
def test_malformed_lines_are_data_invalid_with_location(tiny_tokenizer, tmp_path, content, fragment):
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n\n' + content)
    with pytest.raises(WorkerError) as info:
        build_samples(tiny_tokenizer, data, 64, "drop")
    assert info.value.code == "DATA_INVALID"
    assert f"{data}:3" in info.value.message and fragment in info.value.message


def test_bad_bytes_and_byte_order_mark(tiny_tokenizer, tmp_path):
    good = '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'.encode()
    data = tmp_path / "train.jsonl"
    data.write_bytes(b"\xef\xbb\xbf" + good + good[:20] + b"\xff" + good[21:])
    with pytest.raises(WorkerError) as info:
        build_samples(tiny_tokenizer, data, 64, "drop")
    assert f"{data}:2: not UTF-8 (byte offset {3 + len(good) + 20})" in info.value.message
    data.write_bytes(b"\xef\xbb\xbf" + good)
    assert build_samples(tiny_tokenizer, data, 64, "drop")[1].kept == 1


def test_example_dataset_fits_the_tiny_model(tiny_tokenizer):
    from support import TINY_CHAT

    samples, report = build_samples(tiny_tokenizer, TINY_CHAT, 256, "error")
    assert 80 <= report.read <= 120 and report.kept == report.read
    assert all(s.n_trained > 0 for s in samples)
