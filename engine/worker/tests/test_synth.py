"""synth.py in-process: the pre-query template is cut from the chat template at the user's text; a candidate's
prompt and answer depend on its index and seed only (not on batching or its neighbours); a stop text ends a
prompt; unusable prompts are not answered; a model without a chat template is refused for Magpie."""

from __future__ import annotations

import json
import shutil

import pytest
from support import Recorder

from whetstone_worker.errors import WorkerError
from whetstone_worker.jobs import generate, synth
from whetstone_worker.server import run_task


def cand(index: int, prefix: str | None = None, temperature: float = 1.0, kind: str = "raw") -> dict:
    return {"index": index, "kind": kind, "prefix": prefix, "temperature": temperature}


def command(tiny_model, **overrides) -> dict:
    return {"model_path": str(tiny_model), "tuned_path": None, "tuned_kind": None,
            "candidates": [cand(i) for i in range(4)], "responses": [{"temperature": 0.7, "seed_offset": 2**31}], "stop_texts": [],
            "prompt_tokens": 8, "response_tokens": 6, "answer_truncated": False, "top_p": 1, "seed": 3} | overrides


def synthesize(tiny_model, **overrides) -> tuple[dict, list[dict]]:
    recorder = Recorder()
    run_task(synth.run, "syn", command(tiny_model, **overrides), recorder.emitter, lambda: False)
    done = recorder.of("done")[-1]
    assert done["status"] == "completed"
    return done["result"], recorder.of("candidate")


def test_pre_query_prefix_is_the_template_up_to_the_user_text(tiny_tokenizer):
    assert synth.pre_query_prefix(tiny_tokenizer, "tiny") == "<|im_start|>user\n"


def test_candidates_are_deterministic_and_independent_of_batching(tiny_model, monkeypatch):
    result, events = synthesize(tiny_model)
    assert result["pre_query"] == "<|im_start|>user\n" and result["count"] == 4
    assert [e["index"] for e in events] == [0, 1, 2, 3]
    for e in events:
        assert 0 < e["prompt_tokens"] <= 8 and e["prompt_finish"] in ("stop", "length")
        usable = e["prompt"].strip() != "" and e["prompt_finish"] == "stop"
        assert (e["response"] is not None) == usable  # a prompt cut at the limit is not answered
    assert synthesize(tiny_model)[1] == events
    # Candidate 2 alone, in a batch of one, writes what it wrote beside the others.
    monkeypatch.setitem(generate.MAX_BATCH, "cpu", 1)
    alone = synthesize(tiny_model, candidates=[cand(2)])[1]
    assert alone == [events[2]]
    answered = synthesize(tiny_model, answer_truncated=True)[1]
    assert all(e["response"] is not None for e in answered if e["prompt"].strip())
    other_seed = synthesize(tiny_model, seed=4)[1]
    assert [e["prompt"] for e in other_seed] != [e["prompt"] for e in events]


def test_an_empty_prompt_is_not_answered(tiny_model, monkeypatch):
    # The tiny model rarely ends a turn by itself: its end-of-turn token ends every prompt here.
    monkeypatch.setattr(synth, "stop_token_ids", lambda tokenizer, model: list(range(1000)))
    _, events = synthesize(tiny_model, candidates=[cand(0, "Hello", 0)])
    assert events[0]["prompt"] == "" and events[0]["response"] is None  # stopped at once: empty, unanswered


def test_stop_text_ends_a_fewshot_prompt(tiny_model, tiny_tokenizer):
    _, free = synthesize(tiny_model, candidates=[cand(0, "### Request 1\nHi\n\n### Request 2\n", 0)],
                         prompt_tokens=12, response_tokens=0)
    words = free[0]["prompt"].split()
    assert free[0]["response"] is None and len(words) >= 2  # response_tokens 0: prompts only
    stop = words[1]
    _, cut = synthesize(tiny_model, candidates=[cand(0, "### Request 1\nHi\n\n### Request 2\n", 0)],
                        prompt_tokens=12, response_tokens=4, stop_texts=[stop])
    assert cut[0]["prompt_finish"] == "stop" and stop not in cut[0]["prompt"]
    assert cut[0]["response"] is not None and cut[0]["response_tokens"] > 0  # ended by its stop text: answered
    assert free[0]["prompt"].startswith(cut[0]["prompt"]) and len(cut[0]["prompt"]) < len(free[0]["prompt"])


def test_a_model_without_a_chat_template_is_refused_for_magpie(tiny_model, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_model, bare)
    (bare / "chat_template.jinja").unlink()
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(WorkerError) as info:
        synthesize(bare)
    assert info.value.code == "TEMPLATE_MISSING" and str(bare) in info.value.message and "pre-query" in info.value.message
    # Few-shot prompts alone need no template.
    _, events = synthesize(bare, candidates=[cand(0, "Requests:\n1.", 1.0)], response_tokens=0)
    assert len(events) == 1


def test_a_template_that_hides_the_user_text_is_refused(tiny_tokenizer, monkeypatch):
    monkeypatch.setattr(synth, "render", lambda tokenizer, messages, add_generation_prompt=False: "<s>[no user text]</s>")
    with pytest.raises(WorkerError) as info:
        synth.pre_query_prefix(tiny_tokenizer, "odd-model")
    assert info.value.code == "SYNTH_TEMPLATE_UNSUPPORTED" and "odd-model" in info.value.message


def test_several_responses_each_with_its_own_seed_and_temperature(tiny_model):
    _, one = synthesize(tiny_model, answer_truncated=True)
    specs = [{"temperature": 0.7, "seed_offset": 2**31}, {"temperature": 0.7, "seed_offset": 2**31 + 2**24}, {"temperature": 0, "seed_offset": 2**31}]
    _, three = synthesize(tiny_model, answer_truncated=True, responses=specs)
    for a, b in zip(one, three):
        assert a["prompt"] == b["prompt"] and len(b["responses"]) == (3 if b["prompt"].strip() else 0)
        if b["responses"]:
            assert b["responses"][0]["text"] == a["response"] == b["response"]  # the first spec is the single answer
            assert b["responses"][0]["text"] != b["responses"][1]["text"]  # the same temperature, another seed


def test_a_given_prompt_is_only_answered_and_a_chat_prefix_goes_through_the_template(tiny_model, monkeypatch):
    _, given = synthesize(tiny_model, candidates=[cand(5, "Name a prime.", kind="prompt")])
    assert given[0]["prompt"] == "Name a prime." and given[0]["prompt_tokens"] == 0 and given[0]["prompt_finish"] == "stop"
    assert given[0]["response"] is not None
    seen = []
    monkeypatch.setattr(synth, "render", lambda tokenizer, messages, add_generation_prompt=False: seen.append(messages[0]["content"]) or "<|im_start|>user\nx")
    synthesize(tiny_model, candidates=[cand(0, "Write a question on tides.", kind="chat")], response_tokens=0)
    assert seen == ["Write a question on tides."]
