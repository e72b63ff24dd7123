"""generate.py in-process: batched greedy and seeded sampling are reproducible and independent of
batching; base and tuned come from one model with the adapter toggled; streaming pieces add up to
the answer; a bad adapter path is named."""

from __future__ import annotations

import pytest
import torch
from support import Recorder

from whetstone_worker import modeling
from whetstone_worker.jobs import generate
from whetstone_worker.errors import WorkerError
from whetstone_worker.server import run_task

PROMPTS = [[{"role": "user", "content": "Name a prime number."}], [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
           [{"role": "user", "content": "What is the capital of France, and why is it famous?"}]]


def answer(tiny_model, **overrides) -> tuple[dict, Recorder]:
    command = {"model_path": str(tiny_model), "tuned_path": None, "tuned_kind": None, "sides": ["base"], "prompts": PROMPTS,
               "max_new_tokens": 6, "temperature": 0, "top_p": 1, "seed": 0, "stream": False} | overrides
    recorder = Recorder()
    run_task(generate.run, "gen", command, recorder.emitter, lambda: False)
    done = recorder.of("done")[-1]
    assert done["status"] == "completed" and done["result"]["count"] == len(command["prompts"])
    return done["result"], recorder


def test_greedy_and_seeded_sampling_are_reproducible_and_batch_independent(tiny_model, monkeypatch):
    greedy, _ = answer(tiny_model)
    rows = greedy["outputs"]["base"]
    assert len(rows) == 3 and all(0 < r["tokens"] <= 6 and r["finish"] in ("stop", "length") for r in rows)
    assert greedy["settings"]["decoding"] == "greedy" and greedy["settings"]["max_new_tokens"] == 6
    assert answer(tiny_model)[0]["outputs"] == greedy["outputs"]
    sampled, _ = answer(tiny_model, temperature=1.0, top_p=0.9, seed=7)
    assert answer(tiny_model, temperature=1.0, top_p=0.9, seed=7)[0]["outputs"] == sampled["outputs"]
    assert answer(tiny_model, temperature=1.0, top_p=0.9, seed=8)[0]["outputs"] != sampled["outputs"]
    # One prompt per batch gives the same answers: each prompt has its own generator and positions.
    from whetstone_worker.jobs import audit

    monkeypatch.setitem(audit.MAX_BATCH, "cpu", 1)
    assert answer(tiny_model, temperature=1.0, top_p=0.9, seed=7)[0]["outputs"] == sampled["outputs"]
    assert answer(tiny_model)[0]["outputs"] == greedy["outputs"]


def test_batched_greedy_equals_hf_generate(tiny_model):
    result, _ = answer(tiny_model, max_new_tokens=8)
    tokenizer = modeling.load_tokenizer(tiny_model, False)
    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu")).eval()
    stops = generate.stop_token_ids(tokenizer, model)
    for messages, row in zip(PROMPTS, result["outputs"]["base"]):
        ids = tokenizer(generate.render(tokenizer, messages, add_generation_prompt=True), add_special_tokens=False, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=8, do_sample=False, eos_token_id=stops, pad_token_id=0, temperature=None, top_p=None, top_k=None)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        finish = "stop" if new and new[-1] in stops else "length"
        new = new[:-1] if finish == "stop" else new
        assert row == {"text": tokenizer.decode(new, skip_special_tokens=True), "tokens": len(new), "finish": finish}


def test_base_and_tuned_toggle_the_adapter_and_stream(tiny_model, adapter):
    both, recorder = answer(tiny_model, tuned_path=str(adapter), tuned_kind="adapter", sides=["base", "tuned"], stream=True)
    base_only, _ = answer(tiny_model)
    assert both["outputs"]["base"] == base_only["outputs"]["base"]  # adapter disabled = the base model
    assert both["outputs"]["tuned"] != both["outputs"]["base"]
    for side in ("base", "tuned"):
        for index, row in enumerate(both["outputs"][side]):
            pieces = [t["text"] for t in recorder.of("token") if t["side"] == side and t["index"] == index]
            assert "".join(pieces) == row["text"]
    assert {(g["side"], g["index"]) for g in recorder.of("generation")} == {(s, i) for s in ("base", "tuned") for i in range(3)}
    progress = [p for p in recorder.of("progress") if p["phase"] == "generate"]
    assert progress[-1]["current"] == progress[-1]["total"] == 6 and progress[-1]["eta_s"] == 0


def test_missing_adapter_is_model_not_found(tiny_model, tmp_path):
    with pytest.raises(WorkerError) as info:
        answer(tiny_model, tuned_path=str(tmp_path / "adapter"), tuned_kind="adapter", sides=["tuned"])
    assert info.value.code == "MODEL_NOT_FOUND" and str(tmp_path / "adapter") in info.value.message
    with pytest.raises(WorkerError) as info:
        answer(tiny_model, sides=["tuned"])
    assert info.value.code == "GENERATE_INVALID"


def test_cancel_between_batches(tiny_model):
    recorder = Recorder()
    command = {"model_path": str(tiny_model), "tuned_path": None, "tuned_kind": None, "sides": ["base"], "prompts": PROMPTS,
               "max_new_tokens": 4, "temperature": 0, "top_p": 1, "seed": 0, "stream": False}
    run_task(generate.run, "gen", command, recorder.emitter, lambda: True)
    assert recorder.of("done")[-1]["status"] == "cancelled" and not recorder.of("generation")


def test_streamed_pieces_hold_back_a_character_split_across_byte_tokens(tiny_model):
    """The tiny model's byte-level BPE splits ’, — and 😀 into one token per byte: no piece may show half a character."""
    tokenizer = modeling.load_tokenizer(tiny_model, False)
    text = "I’ll go — café 数据 😀"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert any("\ufffd" in tokenizer.decode([i]) for i in ids)  # the case: one token alone is half a character
    pieces: list[str] = []
    stream = generate._Stream(tokenizer, lambda index, piece: pieces.append(piece))
    for n in range(1, len(ids) + 1):
        stream(0, ids[:n])
    stream(0, ids, final=True)
    assert not any("\ufffd" in p for p in pieces)
    assert "".join(pieces) == text
    # A generation that stops inside a character: the final call sends what decodes, marked as such.
    cut: list[str] = []
    stream = generate._Stream(tokenizer, lambda index, piece: cut.append(piece))
    partial = tokenizer.encode("I’", add_special_tokens=False)[:-1]
    for n in range(1, len(partial) + 1):
        stream(0, partial[:n])
    assert cut == ["I"]
    stream(0, partial, final=True)
    assert "".join(cut).startswith("I") and cut[-1].endswith("\ufffd")


def test_keep_stop_ends_a_row_with_the_stop_token_it_sampled(tiny_model):
    """GRPO trains on the stop token that ended a completion: with two stop tokens, the one the model chose."""
    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu")).eval()
    prompt = [[5, 17, 42, 9]]
    (free, _), = generate.decode_batch(model, prompt, [0], 3, 0.0, 1.0, set(), 0)
    first, second = free[0], free[1]
    other = min(t for t in range(1000) if t not in (first, second))  # a lower id: not the one to pick by min()
    stops = {second, other}
    (kept, reason), = generate.decode_batch(model, prompt, [0], 3, 0.0, 1.0, stops, 0, keep_stop=True)
    (plain, _), = generate.decode_batch(model, prompt, [0], 3, 0.0, 1.0, stops, 0)
    assert reason == "stop" and kept == [first, second] and plain == [first]
