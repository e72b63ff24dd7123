"""audit.py + embeddings.py: LCS, sampling, memorization detected on a model made to memorize, the
adapter-disabled base pass equals plain greedy decoding, the embedder choice, errors, cancel, and
the real worker answering `audit` over the protocol."""

from __future__ import annotations

import json
import random

import pytest
import torch
from support import Recorder

from whetstone_worker import audit, embeddings, modeling
from whetstone_worker.data.chat import render_segments, tokenize_segments
from whetstone_worker.errors import WorkerError
from whetstone_fixtures import tiny_encoder

MEMORIZED = [
    [{"role": "user", "content": "Recite the first line."},
     {"role": "assistant", "content": "The quick brown fox jumps over the lazy dog near the river bank today."}],
    [{"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "The capital of France is Paris, a city on the Seine with many old bridges."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime number."},
     {"role": "assistant", "content": "Seven is a prime number, and so are eleven and thirteen."}],
]
SKIPPED = [
    [{"role": "user", "content": "Hello?"}],  # no assistant answer
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi."}],  # answer too short for the prefix
]
PREFIX, CONTINUATION = 3, 12


def write_jsonl(path, conversations):
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in conversations), encoding="utf-8")
    return path


def trained_rows(tokenizer, conversations):
    """(ids, labels, mask) batch of the conversations, labels only on assistant tokens (the SFT rule)."""
    rows = [tokenize_segments(tokenizer, render_segments(tokenizer, c)) for c in conversations]
    width = max(len(ids) for ids, _ in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, trained) in enumerate(rows):
        row = torch.tensor(row, dtype=torch.long)
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
        labels[i, : len(row)] = row.masked_fill(~torch.tensor(trained), -100)
    return ids, labels, mask


def fit(model, tokenizer, steps: int, lr: float) -> None:
    ids, labels, mask = trained_rows(tokenizer, MEMORIZED)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def made(tiny_model, tiny_tokenizer, tmp_path_factory):
    """Data, a fully fine-tuned model that memorized MEMORIZED, a LoRA adapter trained on it, an encoder."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("audit")
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    full = modeling.load_model(tiny_model, torch.float32, False, cpu)
    fit(full, tiny_tokenizer, steps=50, lr=1e-2)
    full.save_pretrained(root / "full")
    tiny_tokenizer.save_pretrained(root / "full")

    lora = get_peft_model(modeling.load_model(tiny_model, torch.float32, False, cpu),
                          LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    fit(lora, tiny_tokenizer, steps=40, lr=2e-2)
    lora.save_pretrained(root / "adapter")
    return {
        "data": write_jsonl(root / "train.jsonl", MEMORIZED + SKIPPED),
        "full": root / "full",
        "adapter": root / "adapter",
        "encoder": tiny_encoder.build(root / "encoder", tiny_model),
    }


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path, monkeypatch):
    """No test depends on what this machine's Hugging Face cache holds."""
    monkeypatch.setattr(embeddings, "HF_CACHE_DIR", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def command(tiny_model, made, **overrides) -> dict:
    return {"model_path": str(tiny_model), "tuned_path": str(made["full"]), "tuned_kind": "model",
            "data_path": str(made["data"]), "samples": 10, "prefix_tokens": PREFIX, "continuation_tokens": CONTINUATION,
            "seed": 0, "embedding_model": None} | overrides


def run_audit(cmd: dict, cancelled=lambda: False) -> Recorder:
    recorder = Recorder()  # validates every event, the report included
    audit.run("audit-1", cmd, recorder.emitter, cancelled)
    return recorder


def report_of(recorder: Recorder) -> dict:
    done = recorder.of("done")[-1]
    assert done["status"] == "completed"
    return done["result"]


def naive_greedy(model, prompt: list[int], n: int) -> list[int]:
    """Greedy decoding by definition: one prompt, no padding, no cache, argmax of the full forward each step."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prompt) :]


# ------------------------------------------------------------------------------------------ LCS


@pytest.mark.parametrize("a, b, expected", [
    ([], [], 0), ([1, 2, 3], [], 0), ([1, 2, 3], [1, 2, 3], 3), ([1, 2, 3], [4, 5, 6], 0),
    ([1, 2, 3, 4], [2, 4], 2), ([1, 3, 4, 1, 2, 1, 3], [3, 1, 2, 1, 4, 1], 4),  # CLRS-style
    ([7, 7, 7], [7], 1), ([1, 2, 1, 2], [2, 1, 2, 1], 3), ([5, 1, 2, 3], [1, 2, 3, 5], 3),
])
def test_lcs_hand_cases(a, b, expected):
    assert audit.lcs_length_dp(a, b) == expected == audit.lcs_length_dp(b, a)
    assert audit.lcs_length(a, b) == expected == audit.lcs_length(b, a)


def test_bit_parallel_lcs_equals_the_dp():
    rng = random.Random(1)
    for _ in range(300):
        a = [rng.randrange(5) for _ in range(rng.randrange(0, 40))]
        b = [rng.randrange(5) for _ in range(rng.randrange(0, 40))]
        assert audit.lcs_length(a, b) == audit.lcs_length_dp(a, b)
    long = [rng.randrange(50) for _ in range(200)]
    assert audit.lcs_length(long, long) == 200


def test_lcs_ratio_is_over_the_target():
    assert audit.lcs_ratio([1, 2, 9, 9], [1, 2, 3, 4]) == 0.5 and audit.lcs_ratio([1], []) == 0.0


# ---------------------------------------------------------------------------------------- data


def test_draw_is_seeded_and_takes_all_when_fewer(tmp_path):
    rows = [[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}] for i in range(30)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    available, first = audit.draw(path, 5, seed=3)
    assert available == 30 and len(first) == 5 and [line for line, _ in first] == sorted(line for line, _ in first)
    assert audit.draw(path, 5, seed=3) == (30, first) and audit.draw(path, 5, seed=4)[1] != first
    assert [line for line, _ in audit.draw(path, 100, seed=0)[1]] == list(range(1, 31))


def test_probe_is_training_tokens_of_the_last_answer(tiny_tokenizer):
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there, friend."},
                    {"role": "user", "content": "Name a prime number."}, {"role": "assistant", "content": "Seven is a prime number."}]
    ids, trained = tokenize_segments(tiny_tokenizer, render_segments(tiny_tokenizer, conversation))
    ids, trained = ids.tolist(), trained.tolist()
    start = max(i for i in range(len(ids)) if trained[i] and not trained[i - 1])  # the last answer's first token
    probe = audit.make_probe(tiny_tokenizer, 7, conversation, 2, 4, None)
    assert probe.line == 7 and probe.prompt == ids[: start + 2] and probe.target == ids[start + 2 : start + 6]
    assert probe.preview == "user: Name a prime number."
    left = len(ids) - start - 2
    assert audit.make_probe(tiny_tokenizer, 1, conversation, 2, left + 3, None).target == ids[start + 2 :]  # what remains
    # The prefix never takes more than half the answer, so a long prefix still leaves a target.
    whole = len(ids) - start
    capped = audit.make_probe(tiny_tokenizer, 1, conversation, whole, 64, None)
    assert capped.prompt == ids[: start + whole // 2] and capped.target == ids[start + whole // 2 :]
    short = [{"role": "user", "content": "Ok?"}, {"role": "assistant", "content": "Ok"}]
    s_ids, s_trained = (t.tolist() for t in tokenize_segments(tiny_tokenizer, render_segments(tiny_tokenizer, short)))
    assert sum(s_trained) - sum(s_trained) // 2 < audit.MIN_CONTINUATION  # the fixture tokenizer makes "Ok" tiny
    assert audit.make_probe(tiny_tokenizer, 1, short, 32, 64, None) == "answer_too_short"
    assert audit.make_probe(tiny_tokenizer, 1, conversation[:1], 2, 4, None) == "no_assistant_answer"
    assert audit.make_probe(tiny_tokenizer, 1, conversation, 2, 4, max_positions=start + 3) == "too_long_for_model"


# ------------------------------------------------------------------------------------- the audit


def test_full_model_memorization_and_report_shape(tiny_model, made):
    recorder = run_audit(command(tiny_model, made))
    report = report_of(recorder)
    json.dumps(report, allow_nan=False)
    assert set(report) >= {"settings", "embedder", "counts", "base", "tuned", "delta", "timing", "per_sample"}
    assert report["counts"] == {"available": 5, "requested": 10, "drawn": 5, "used": 3, "skipped": 2,
                                "skipped_reasons": {"no_assistant_answer": 1, "answer_too_short": 1}}
    settings = report["settings"]
    assert (settings["prefix_tokens"], settings["continuation_tokens"], settings["tuned_kind"]) == (PREFIX, CONTINUATION, "model")
    for block in ("base", "tuned"):
        assert set(report[block]) == {"exact_match_rate", "exact_matches", "lcs_ratio_mean", "semantic_similarity_mean"}
    assert report["tuned"]["exact_match_rate"] == 1.0 and report["tuned"]["lcs_ratio_mean"] == 1.0
    assert report["base"]["exact_match_rate"] < 1.0 and report["base"]["lcs_ratio_mean"] < 0.5
    assert report["tuned"]["semantic_similarity_mean"] == pytest.approx(1.0)
    assert report["base"]["semantic_similarity_mean"] < report["tuned"]["semantic_similarity_mean"]
    assert report["delta"]["exact_match_rate"] == pytest.approx(1.0 - report["base"]["exact_match_rate"])
    rows = report["per_sample"]
    assert [r["line"] for r in rows] == [1, 2, 3] and rows[2]["prompt_preview"] == "user: Name a prime number."
    assert set(rows[0]) == {"line", "prompt_preview", "prefix_text", "target_text", "target_tokens", "base", "tuned"}
    assert all(r["tuned"]["text"] == r["target_text"] and r["tuned"]["exact"] and r["target_tokens"] == CONTINUATION for r in rows)
    assert rows[0]["prefix_text"] + rows[0]["target_text"] in MEMORIZED[0][1]["content"]
    assert all(set(r["base"]) == {"text", "exact", "lcs_ratio", "similarity"} for r in rows)
    assert report["timing"]["decode_s"] > 0 and report["timing"]["decoded_tokens"] == 2 * 3 * CONTINUATION

    phases = [(e["phase"], e["message"]) for e in recorder.of("progress")]
    assert [p for p, _ in phases].count("load") == 4  # tuned first, freed, then base
    assert phases.index(("load", "Loading the tuned model from " + str(made["full"]))) < next(
        i for i, (p, m) in enumerate(phases) if m.startswith("Loading the base model"))
    decoding = [e for e in recorder.of("progress") if e["phase"] == "audit"]
    assert decoding[-1]["current"] == decoding[-1]["total"] == 6 and all(e["eta_s"] is not None for e in decoding)


def test_adapter_base_pass_is_plain_base_greedy(tiny_model, tiny_tokenizer, made):
    report = report_of(run_audit(command(tiny_model, made, tuned_kind="adapter", tuned_path=str(made["adapter"]))))
    plain = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu")).eval()
    probes = [audit.make_probe(tiny_tokenizer, i + 1, m, PREFIX, CONTINUATION, None) for i, m in enumerate(MEMORIZED)]
    assert len({len(p.prompt) for p in probes}) > 1  # one left-padded batch of different lengths
    for probe, row in zip(probes, report["per_sample"]):
        expected = naive_greedy(plain, probe.prompt, len(probe.target))
        assert row["base"]["text"] == tiny_tokenizer.decode(expected, skip_special_tokens=True)
        assert row["base"]["exact"] == (expected == probe.target)
    assert report["tuned"]["exact_match_rate"] > report["base"]["exact_match_rate"]
    assert report["settings"]["tuned_kind"] == "adapter"
    # The fallback embedder (the base model) also runs with the adapter disabled: same base scores as a plain base.
    plain_report = report_of(run_audit(command(tiny_model, made)))
    for row, plain_row in zip(report["per_sample"], plain_report["per_sample"]):
        assert row["base"]["text"] == plain_row["base"]["text"]
        assert row["base"]["similarity"] == pytest.approx(plain_row["base"]["similarity"], abs=2e-4)


def test_decoder_halves_the_batch_on_out_of_memory(tiny_model, tiny_tokenizer, monkeypatch):
    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu")).eval()
    probes = [audit.make_probe(tiny_tokenizer, i + 1, m, PREFIX, CONTINUATION, None) for i, m in enumerate(MEMORIZED)]
    reference = audit.Decoder(probes, torch.device("cpu"), 0, lambda rows, label: None, lambda: False).decode(model, "base")
    real, sizes = audit.greedy_batch, []

    def small_only(model, prompts, new, pad):
        sizes.append(len(prompts))
        if len(prompts) > 1:
            raise torch.OutOfMemoryError("fake")
        return real(model, prompts, new, pad)

    monkeypatch.setattr(audit, "greedy_batch", small_only)
    decoder = audit.Decoder(probes, torch.device("cpu"), 0, lambda rows, label: None, lambda: False)
    assert decoder.decode(model, "base") == reference and sizes == [3, 1, 1, 1]


def test_default_embedder_falls_back_to_the_base_model_offline(tiny_model, made):
    report = report_of(run_audit(command(tiny_model, made)))
    assert report["embedder"]["kind"] == "base-model" and report["embedder"]["path"] is None
    assert embeddings.DEFAULT_MODEL in report["embedder"]["reason"] and "not in the local Hugging Face cache" in report["embedder"]["reason"]
    again = report_of(run_audit(command(tiny_model, made)))
    assert {k: v for k, v in again.items() if k != "timing"} == {k: v for k, v in report.items() if k != "timing"}  # deterministic


def test_default_embedder_is_minilm_when_cached(made, empty_hf_cache):
    repo = empty_hf_cache / "models--sentence-transformers--all-MiniLM-L6-v2"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    for path in made["encoder"].rglob("*"):
        if path.is_file():
            (snapshot / path.relative_to(made["encoder"])).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / path.relative_to(made["encoder"])).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    chosen = embeddings.choose(None)
    assert chosen["name"] == embeddings.DEFAULT_MODEL and chosen["kind"] == "sentence-encoder" and chosen["path"] == str(snapshot)


def test_explicit_embedding_model_is_used(tiny_model, made):
    report = report_of(run_audit(command(tiny_model, made, embedding_model=str(made["encoder"]))))
    assert report["embedder"] == {"name": str(made["encoder"]), "kind": "sentence-encoder",
                                  "reason": "embedding_model was given", "path": str(made["encoder"])}
    fallback = report_of(run_audit(command(tiny_model, made)))
    base_sims = [r["base"]["similarity"] for r in report["per_sample"]]
    assert base_sims != [r["base"]["similarity"] for r in fallback["per_sample"]]  # a different embedding space
    assert all(r["tuned"]["similarity"] == 1.0 for r in report["per_sample"])  # identical texts


def test_encoder_vectors_are_normalized_mean_pools(made):
    encoder = embeddings.EncoderEmbedder(str(made["encoder"]), torch.device("cpu"))
    texts = ["The capital of France is Paris.", "Seven", "Seven is a prime number, and so are eleven and thirteen."]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 32) and torch.allclose(vectors.norm(dim=-1), torch.ones(3))
    one = encoder.tokenizer(texts[1:2], return_tensors="pt")
    with torch.no_grad():
        hidden = encoder.model(input_ids=one["input_ids"], attention_mask=one["attention_mask"]).last_hidden_state
    assert torch.allclose(vectors[1], torch.nn.functional.normalize(hidden[0].mean(0), dim=-1), atol=1e-5)


def test_encoder_follows_modules_json_and_cls_pooling(made, tmp_path):
    import shutil

    folder = tmp_path / "old-layout"
    shutil.copytree(made["encoder"], folder / "0_Transformer")
    (folder / "pool").mkdir()
    (folder / "pool" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "pool", "type": "sentence_transformers.models.Pooling"}]))
    assert embeddings.choose(str(folder))["kind"] == "sentence-encoder"
    encoder = embeddings.EncoderEmbedder(str(folder), torch.device("cpu"))
    one = encoder.tokenizer(["Seven is prime"], return_tensors="pt")
    with torch.no_grad():
        hidden = encoder.model(input_ids=one["input_ids"], attention_mask=one["attention_mask"]).last_hidden_state
    assert torch.allclose(encoder.encode(["Seven is prime"])[0], torch.nn.functional.normalize(hidden[0, 0], dim=-1), atol=1e-5)


@pytest.mark.parametrize("field, code", [("model_path", "MODEL_NOT_FOUND"), ("tuned_path", "MODEL_NOT_FOUND"),
                                         ("data_path", "DATA_NOT_FOUND"), ("embedding_model", "MODEL_NOT_FOUND")])
def test_missing_inputs_are_named(tiny_model, made, tmp_path, field, code):
    missing = str(tmp_path / "missing")
    for kind, tuned in (("model", made["full"]), ("adapter", made["adapter"])):
        with pytest.raises(WorkerError) as info:
            run_audit(command(tiny_model, made, **{"tuned_kind": kind, "tuned_path": str(tuned), field: missing}))
        assert info.value.code == code and missing in info.value.message


def test_nothing_auditable_is_data_empty(tiny_model, made, tmp_path):
    # A long prefix alone no longer empties the audit (it is capped at half the answer): answers
    # too short to leave MIN_CONTINUATION tokens do.
    rows = [[{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "Ok"}] for i in range(4)]
    with pytest.raises(WorkerError) as info:
        run_audit(command(tiny_model, made, data_path=str(write_jsonl(tmp_path / "short.jsonl", rows)), prefix_tokens=200))
    assert info.value.code == "DATA_EMPTY" and "answer too short: 4" in info.value.message


def test_cancel_between_batches_reports_nothing(tiny_model, made, tmp_path):
    rows = [[{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": MEMORIZED[i % 3][1]["content"]}]
            for i in range(20)]
    recorder = Recorder()
    cancelled = lambda: any(e["type"] == "progress" and e["phase"] == "audit" for e in recorder.events)  # noqa: E731
    audit.run("audit-1", command(tiny_model, made, data_path=str(write_jsonl(tmp_path / "d.jsonl", rows)), samples=20),
              recorder.emitter, cancelled)
    done = recorder.of("done")
    assert len(done) == 1 and done[0]["status"] == "cancelled" and done[0]["result"] == {}
    assert [e["current"] for e in recorder.of("progress") if e["phase"] == "audit"] == [8]  # one batch, then stop


# ------------------------------------------------------------------------------ the real worker


def test_worker_process_answers_audit_and_cancel(tiny_model, made, tmp_path, monkeypatch):
    from test_worker_process import Worker, finished

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # the child's default embedder: the fallback
    many = [[{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": MEMORIZED[i % 3][1]["content"]}]
            for i in range(600)]
    big = write_jsonl(tmp_path / "big.jsonl", many)
    line = {"v": 1, "type": "audit", "id": "audit-1"} | command(tiny_model, made)
    worker = Worker()
    try:
        assert worker.next()["type"] == "hello"
        worker.send(line)
        events = worker.until(finished("audit-1"))
        done = events[-1]
        assert done["type"] == "done" and done["status"] == "completed", worker.log()
        assert done["result"]["tuned"]["exact_match_rate"] == 1.0 and done["result"]["counts"]["used"] == 3
        assert done["result"]["embedder"]["kind"] == "base-model"
        decoding = [e for e in events if e["type"] == "progress" and e["phase"] == "audit"]
        assert decoding and decoding[-1]["current"] == decoding[-1]["total"] == 6 and decoding[0]["eta_s"] is not None

        worker.send(line | {"id": "audit-2", "data_path": str(big), "samples": 600, "continuation_tokens": 32, "prefix_tokens": 2})
        worker.until(lambda e: e.get("id") == "audit-2" and e["type"] == "progress" and e["phase"] == "audit")
        worker.send({"v": 1, "type": "cancel", "id": "c-1", "target": "audit-2"})
        done = worker.until(finished("audit-2"))[-1]
        assert done["type"] == "done" and done["status"] == "cancelled" and done["result"] == {}

        worker.send(line | {"id": "audit-3", "data_path": str(tmp_path / "nope.jsonl")})
        error = worker.until(finished("audit-3"))[-1]
        assert error["type"] == "error" and error["code"] == "DATA_NOT_FOUND" and str(tmp_path / "nope.jsonl") in error["message"]
        assert worker.shutdown() == 0
    finally:
        worker.proc.kill()
