"""Training on two processes (torchrun, gloo on the CPU) equals training on one with the same global
batch: each optimizer step's micro-batches are dealt out between the ranks and the gradients summed,
so the losses, gradient norms and the saved adapter match the single-process run's step for step.
Methods other than sft are refused by name (issue #21 lands them next)."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file
from test_worker_process import Worker, command, finished


def train(config: dict, run_dir, devices: int) -> list[dict]:
    worker = Worker(devices)
    try:
        assert worker.next()["type"] == "hello"
        worker.send(command("train", "t", run_dir, config))
        events = worker.until(finished("t"))
        assert worker.shutdown() == 0, worker.log()
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed", (events[-1], worker.log())
    return [e for e in events if e["type"] == "metrics"]


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_two_processes_train_as_one(make_config, tmp_path, finetune):
    config = make_config(finetune=finetune, training__micro_batch_size=2, training__gradient_accumulation=4, training__max_steps=3,
                         training__neftune_alpha=0, training__learning_rate=1e-3 if finetune == "full" else 1e-2, training__checkpoint_every=2,
                         data__max_length=128)
    one = train(config, tmp_path / "one", devices=1)
    two = train(config, tmp_path / "two", devices=2)
    assert [m["step"] for m in two] == [1, 2, 3]
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5), (a, b)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4, abs=1e-5)
        assert b["trained_tokens"] == a["trained_tokens"] and b["tokens"] == a["tokens"]
    name = "adapter" if finetune == "lora" else "model"
    weights = "adapter_model.safetensors" if finetune == "lora" else "model.safetensors"
    w1, w2 = (load_file(tmp_path / run / "outputs" / name / weights) for run in ("one", "two"))
    assert w1.keys() == w2.keys()
    for key in w1:
        assert (w1[key].float() - w2[key].float()).abs().max() < 1e-5, key
    # Rank 0 alone wrote the checkpoints (steps 2 and the last).
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["step-00000002", "step-00000003"]


def test_a_preference_method_on_two_processes_is_refused_by_name(make_config, tmp_path):
    worker = Worker(2)
    try:
        assert worker.next()["type"] == "hello"
        config = make_config(method="dpo")
        config["preference"] = {"beta": 0.1, "label_smoothing": 0, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": False}
        worker.send(command("train", "t", tmp_path, config))
        error = worker.until(finished("t"))[-1]
        assert error["type"] == "error" and error["code"] == "CONFIG_INVALID" and "sft only" in error["message"], error
        assert worker.proc.wait(timeout=120) != 0  # rank 0 left, and torchrun stopped the other rank
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()


def test_a_cancel_stops_every_rank_at_one_step_and_the_run_resumes_exactly(make_config, tmp_path):
    """Cancelled on rank 0 after the step-2 checkpoint: all ranks stop at the same step (the flag is a
    collective), rank 0 checkpoints, and a resumed 2-process run trains steps 3–4 as the uninterrupted one did."""
    config = make_config(training__micro_batch_size=2, training__gradient_accumulation=2, training__max_steps=4,
                         training__neftune_alpha=0, training__learning_rate=1e-2, training__checkpoint_every=2, data__max_length=128)
    whole = train(config, tmp_path / "whole", devices=2)
    worker = Worker(2)
    try:
        assert worker.next()["type"] == "hello"
        worker.send(command("train", "t", tmp_path / "cut", config))
        worker.until(lambda e: e["type"] == "checkpoint" and e["step"] == 2)
        worker.send({"v": 1, "type": "cancel", "id": "c", "target": "t"})
        done = worker.until(finished("t"))[-1]
        assert done["type"] == "done" and done["status"] == "cancelled", done
        assert worker.shutdown() == 0, worker.log()
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
    stopped = done["result"]["steps"]
    worker = Worker(2)
    try:
        assert worker.next()["type"] == "hello"
        worker.send(command("resume", "r", tmp_path / "cut", config))
        events = worker.until(finished("r"))
        assert worker.shutdown() == 0, worker.log()
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
    resumed = [e for e in events if e["type"] == "metrics"]
    assert [m["step"] for m in resumed] == list(range(stopped + 1, 5))
    for m in resumed:
        assert m["loss"] == pytest.approx(whole[m["step"] - 1]["loss"], abs=1e-6)
