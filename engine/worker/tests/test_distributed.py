"""Training on two processes (torchrun's agent, gloo on the CPU) equals training on one with the same global
batch: each optimizer step's micro-batches are dealt out between the ranks and the gradients summed,
so the losses, gradient norms and the saved adapter match the single-process run's step for step.
A full fine-tune is sharded (FSDP2): its checkpoints hold the gathered weights and moments, so it
resumes exactly on two processes and on one. DPO, whose recipe deals out its micro-batches the same
way, too; KTO and GRPO are refused by name (issue #21)."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file
from recipes.test_preference import WORDS, _pairs
from support import Recorder
from test_worker_process import Worker, command, finished

from whetstone_worker import server
from whetstone_worker.protocol import parse_message


def train(config: dict, run_dir, devices: int, kind: str = "train", messages: list | None = None) -> list[dict]:
    """The metrics of a run to its end (`kind` resume: from its checkpoint); its progress messages go into `messages`.
    Two processes: the launcher's (launch.py), forked as the engine forks it. One: the same command in this process (what the
    worker's server runs for it), sparing a worker's imports; the real one-process worker is test_worker_process's."""
    if devices == 1:
        recorder = Recorder()
        server.train(parse_message(json.dumps(command(kind, "t", run_dir, config))), recorder.emitter, lambda: False)
        events, log = recorder.events, ""
    else:
        worker = Worker(devices)
        try:
            assert worker.next()["type"] == "hello"
            worker.send(command(kind, "t", run_dir, config))
            events = worker.until(finished("t"))
            assert worker.shutdown() == 0, worker.log()
            log = worker.log()
        finally:
            if worker.proc.poll() is None:
                worker.proc.kill()
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed", (events[-1], log)
    if messages is not None:
        messages.extend(e["message"] for e in events if e["type"] == "progress")
    return [e for e in events if e["type"] == "metrics"]


def whole_then_cancelled(config: dict, whole_dir, cut_dir, devices: int) -> tuple[list[dict], int, list[str]]:
    """On one worker (the launcher's processes, as the engine starts them): a run trained to its end (its
    metrics and progress messages), then the same run in `cut_dir` cancelled once its step-2 checkpoint
    is written (the step it stopped at, its last checkpoint). The resume is left to a fresh worker."""
    worker = Worker(devices)
    try:
        assert worker.next()["type"] == "hello"
        worker.send(command("train", "whole", whole_dir, config))
        events = worker.until(finished("whole"))
        assert events[-1]["type"] == "done" and events[-1]["status"] == "completed", (events[-1], worker.log())
        worker.send(command("train", "cut", cut_dir, config))
        worker.until(lambda e: e["type"] == "checkpoint" and e["step"] == 2)
        worker.send({"v": 1, "type": "cancel", "id": "c", "target": "cut"})
        done = worker.until(finished("cut"))[-1]
        assert done["type"] == "done" and done["status"] == "cancelled", done
        assert worker.shutdown() == 0, worker.log()
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()
    messages = [e["message"] for e in events if e["type"] == "progress"]
    return [e for e in events if e["type"] == "metrics"], done["result"]["steps"], messages


def assert_same_training(one: list[dict], two: list[dict], one_dir, two_dir, finetune: str, loss_tolerance: dict, weight_tolerance: float) -> None:
    """Two processes trained as one did: the same steps, losses, gradient norms and token counts, and the
    same saved weights (the adapter, or the whole model gathered from its shards)."""
    assert [m["step"] for m in two] == [m["step"] for m in one]
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], **loss_tolerance), (a, b)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4, abs=1e-5)
        assert b["trained_tokens"] == a["trained_tokens"] and b["tokens"] == a["tokens"]
    name = "adapter" if finetune == "lora" else "model"
    weights = "adapter_model.safetensors" if finetune == "lora" else "model.safetensors"
    w1, w2 = (load_file(run / "outputs" / name / weights) for run in (one_dir, two_dir))
    assert w1.keys() == w2.keys()
    for key in w1:
        assert (w1[key].float() - w2[key].float()).abs().max() < weight_tolerance, key


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_dpo_on_two_processes_trains_as_on_one(make_config, tmp_path, finetune):
    """The pair recipe deals out its micro-batches too: losses, reward means and accuracy as on one
    process. Full: the policy sharded (3 micro-batches a step, so rank 1 runs a padding pass), the
    frozen reference copy whole on each rank."""
    (tmp_path / "pairs.jsonl").write_text(_pairs(WORDS[:16]))
    config = make_config(method="dpo", finetune=finetune, data__train=str(tmp_path / "pairs.jsonl"), data__validation=None,
                         training__micro_batch_size=2, training__gradient_accumulation=2 if finetune == "lora" else 3,
                         training__max_steps=2, training__neftune_alpha=0, training__learning_rate=1e-2 if finetune == "lora" else 1e-3,
                         training__checkpoint_every=2, training__goldfish=None, training__packing=False, data__max_length=128)
    config["preference"] = {"beta": 0.1, "label_smoothing": 0, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": False}
    messages = []
    one, two = train(config, tmp_path / "one", devices=1), train(config, tmp_path / "two", devices=2, messages=messages)
    assert any("sharded over 2 processes (FSDP2)" in m and "a frozen copy" in m for m in messages) == (finetune == "full"), messages
    for a, b in zip(one, two, strict=True):
        for key in ("loss", "grad_norm", "rewards/chosen", "rewards/margin", "rewards/accuracy", "logps/rejected"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (key, a, b)


def test_kto_on_two_processes_is_refused_by_name(make_config, tmp_path):
    worker = Worker(2)
    try:
        assert worker.next()["type"] == "hello"
        config = make_config(method="kto")
        config["preference"] = {"beta": 0.1, "label_smoothing": None, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": None,
                                "desirable_weight": 1.0, "undesirable_weight": 1.0}
        worker.send(command("train", "t", tmp_path, config))
        error = worker.until(finished("t"))[-1]
        assert error["type"] == "error" and error["code"] == "CONFIG_INVALID" and "sft, dpo, simpo and orpo" in error["message"], error
        assert worker.proc.wait(timeout=120) != 0  # rank 0 left, and the agent stopped the other rank
    finally:
        if worker.proc.poll() is None:
            worker.proc.kill()


def test_lora_on_two_processes_trains_as_on_one_and_a_cancel_stops_every_rank_at_one_step_and_resumes_exactly(make_config, tmp_path):
    """LoRA on two processes trains as one process does (losses, gradient norms, token counts, the saved
    adapter), with rank 0 alone writing checkpoints. Cancelled on rank 0 after the step-2 checkpoint:
    all ranks stop at the same step (the flag is a collective), rank 0 checkpoints, and a resumed 2-process
    run trains steps 3–4 as the uninterrupted one did; one process resumes the same checkpoint to the same
    losses within float rounding."""
    config = make_config(training__micro_batch_size=2, training__gradient_accumulation=2, training__max_steps=4,
                         training__neftune_alpha=0, training__learning_rate=1e-2, training__checkpoint_every=2, data__max_length=128)
    one = train(config, tmp_path / "one", devices=1)
    whole, stopped, messages = whole_then_cancelled(config, tmp_path / "whole", tmp_path / "cut", devices=2)
    assert not any("FSDP2" in m for m in messages), messages  # LoRA: each rank holds the whole model
    assert_same_training(one, whole, tmp_path / "one", tmp_path / "whole", "lora", {"abs": 1e-5}, 1e-5)
    assert sorted(p.name for p in (tmp_path / "whole" / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    shutil.copytree(tmp_path / "cut", tmp_path / "cut-on-one")
    resumed = train(config, tmp_path / "cut", devices=2, kind="resume")
    assert [m["step"] for m in resumed] == list(range(stopped + 1, 5))
    for m in resumed:
        assert m["loss"] == pytest.approx(whole[m["step"] - 1]["loss"], abs=1e-6)
    # The same checkpoint resumed by one process: the same global batches, summed in another order.
    on_one = train(config, tmp_path / "cut-on-one", devices=1, kind="resume")
    assert [m["step"] for m in on_one] == list(range(stopped + 1, 5))
    for m in on_one:
        assert m["loss"] == pytest.approx(whole[m["step"] - 1]["loss"], rel=1e-5)


def test_a_sharded_full_fine_tune_matches_one_process_and_resumes_exactly_on_two_and_on_one(make_config, tmp_path):
    """FSDP2 with 3 micro-batches a step over 2 ranks (rank 1 runs a padding pass, times 0, to keep the
    collectives in step): losses within 1e-4 of one process. A cancel after the step-2 checkpoint (the
    weights and AdamW moments gathered onto rank 0, saved as one process saves them) resumes exactly on
    two processes, and on one process to the same losses within float tolerance."""
    config = make_config(finetune="full", training__micro_batch_size=2, training__gradient_accumulation=3, training__max_steps=10,
                         training__neftune_alpha=0, training__learning_rate=1e-3, training__checkpoint_every=2, data__max_length=128)
    one = train(config, tmp_path / "one", devices=1)
    whole, stopped, messages = whole_then_cancelled(config, tmp_path / "whole", tmp_path / "cut", devices=2)
    assert any("sharded over 2 processes (FSDP2)" in m for m in messages), messages
    assert_same_training(one, whole, tmp_path / "one", tmp_path / "whole", "full", {"rel": 1e-4}, 1e-5)
    checkpoint = tmp_path / "cut" / "checkpoints" / f"step-{stopped:08d}"
    assert (checkpoint / "model" / "model.safetensors").is_file() and (checkpoint / "optimizer.pt").is_file()
    shutil.copytree(tmp_path / "cut", tmp_path / "cut-on-one")
    resumed = train(config, tmp_path / "cut", devices=2, kind="resume")
    assert stopped < 10 and [m["step"] for m in resumed] == list(range(stopped + 1, 11))  # 10 steps: the cancel lands before the end
    for m in resumed:
        assert m["loss"] == pytest.approx(whole[m["step"] - 1]["loss"], abs=1e-6)
    on_one = train(config, tmp_path / "cut-on-one", devices=1, kind="resume")
    for m in on_one:
        assert m["loss"] == pytest.approx(whole[m["step"] - 1]["loss"], rel=1e-4)
