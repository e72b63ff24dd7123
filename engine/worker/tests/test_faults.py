"""Faults the worker must survive.

A full disk while checkpointing is DISK_FULL (recoverable), never INTERNAL: the partial checkpoint
is removed, the last good one stays intact and verifies, and the free space is checked before a
checkpoint is started. ENOSPC is injected where the bytes are written (torch.save) and the free
space is faked through shutil.disk_usage: both are what a real full disk looks like to the worker.
An engine that stops reading (it died) stops the worker instead of crashing it."""

from __future__ import annotations

import errno
import json
import shutil
from collections import namedtuple

import pytest

from whetstone_worker import checkpoint
from whetstone_worker.checkpoint import latest_valid
from whetstone_worker.errors import WorkerError

Usage = namedtuple("Usage", "total used free")


def _enospc_after(monkeypatch, calls_ok: int):
    real = checkpoint.torch.save
    seen = [0]

    def save(obj, f, *args, **kwargs):
        seen[0] += 1
        if seen[0] > calls_ok:
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)


def test_enospc_while_checkpointing_is_disk_full_and_keeps_the_last_good_checkpoint(make_config, run_sft, tmp_path, monkeypatch):
    _enospc_after(monkeypatch, calls_ok=2)  # a checkpoint saves optimizer.pt and rng.pt: the second one fails
    config = make_config(training__max_steps=6, training__checkpoint_every=3)
    with pytest.raises(WorkerError) as caught:
        run_sft(config, tmp_path)
    err = caught.value
    assert err.code == "DISK_FULL" and err.recoverable
    assert str(tmp_path / "checkpoints") in err.message and "free" in err.message
    assert "step-00000003" in err.message and "intact" in err.message
    assert "Free space" in err.hint and "resume" in err.hint
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir()]
    assert leftovers == ["step-00000003"]  # no .tmp-step-00000006-* left holding the space
    found = latest_valid(tmp_path)
    assert found is not None and found[1]["step"] == 3


def test_free_space_is_checked_before_a_checkpoint_is_started(make_config, run_sft, tmp_path, monkeypatch):
    from whetstone_worker import errors

    real = shutil.disk_usage
    monkeypatch.setattr(errors.shutil, "disk_usage", lambda p: Usage(*real(p)[:2], 4096))
    with pytest.raises(WorkerError) as caught:
        run_sft(make_config(training__max_steps=2, training__checkpoint_every=2), tmp_path)
    assert caught.value.code == "DISK_FULL"
    assert "4.1 KB" not in caught.value.message and "needs about" in caught.value.message
    assert "No checkpoint was written yet" in caught.value.message
    assert not (tmp_path / "checkpoints").exists()  # refused before writing anything


def test_the_worker_reports_disk_full_from_any_job_as_disk_full_not_internal(monkeypatch):
    """The dispatcher's last line of defence: an ENOSPC from a path without its own handling."""
    import io

    from support import Recorder

    from whetstone_worker import server

    def failing(message, emitter, jobs):
        raise OSError(errno.ENOSPC, "No space left on device", "/exports/model/model.safetensors")

    monkeypatch.setattr(server, "_dispatch", failing)
    recorder = Recorder()
    stdin = io.StringIO('{"v": 1, "type": "pull", "id": "p1", "repo_id": "a/b", "repo_type": "model", "revision": null, '
                        '"endpoint": null, "cache_dir": null}\n')
    assert server.Server(stdin, recorder.emitter).serve() == 0
    error = recorder.of("error")[0]
    assert error["code"] == "DISK_FULL" and error["recoverable"]
    assert "/exports/model" in error["message"]


def test_an_emitter_whose_reader_is_gone_calls_on_closed_once_and_goes_quiet():
    """The engine died: the first event that cannot be sent stops the worker (which checkpoints)
    instead of raising BrokenPipeError out of a training step."""
    from whetstone_worker.protocol import Emitter

    sent, closed = [], []

    def write(line):
        if len(sent) == 2:
            raise BrokenPipeError(32, "Broken pipe")
        sent.append(line)

    emitter = Emitter(write, on_closed=lambda: closed.append(True))
    for i in range(5):
        emitter.log("job", "info", f"line {i}")
    assert len(sent) == 2 and closed == [True] and emitter.closed


def test_resume_says_which_checkpoint_it_continues_from_and_why_a_newer_one_was_skipped(make_config, run_sft, tmp_path):
    config = make_config(training__max_steps=6, training__checkpoint_every=3)
    run_sft(config, tmp_path)
    damaged = tmp_path / "checkpoints" / "step-00000006" / "optimizer.pt"
    damaged.write_bytes(damaged.read_bytes()[:-10])  # a torn write
    recorder, _ = run_sft(config, tmp_path, resume=True)
    (event,) = recorder.of("resuming")
    assert event["step"] == 3 and event["path"] == str(tmp_path / "checkpoints" / "step-00000003")
    assert event["skipped"] == [{"name": "step-00000006", "reason": "optimizer.pt has the wrong size"}]
    assert [m["step"] for m in recorder.of("metrics")] == [4, 5, 6]


def _model_copy(tiny_model, tmp_path, **config_changes):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(config_changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_custom_code_model_is_refused_before_tokenizing_with_the_trust_remote_code_hint(make_config, run_sft, tiny_model, tmp_path, monkeypatch):
    from whetstone_worker import modeling

    folder = _model_copy(tiny_model, tmp_path, model_type="whale", auto_map={"AutoConfig": "configuration_whale.WhaleConfig",
                                                                           "AutoModelForCausalLM": "modeling_whale.WhaleForCausalLM"})
    monkeypatch.setattr(modeling, "load_tokenizer", lambda *a: pytest.fail("tokenizer loaded before the model type was checked"))
    with pytest.raises(WorkerError) as caught:
        run_sft(make_config(model__path=str(folder)), tmp_path / "run")
    err = caught.value
    assert err.code == "MODEL_CUSTOM_CODE" and not err.recoverable
    assert "WhaleConfig" in err.message and "WhaleForCausalLM" in err.message
    assert "model.trust_remote_code: true" in err.hint and "rights" in err.hint
    modeling.check_model_dir(folder, trust_remote_code=True)  # allowed once trusted


def test_an_unknown_model_type_without_code_is_unsupported(tiny_model, tmp_path):
    from whetstone_worker import modeling

    folder = _model_copy(tiny_model, tmp_path, model_type="whale")
    with pytest.raises(WorkerError) as caught:
        modeling.check_model_dir(folder)
    assert caught.value.code == "MODEL_UNSUPPORTED" and "'whale'" in caught.value.message


def test_a_full_disk_while_saving_the_finished_adapter_is_disk_full(make_config, run_sft, tmp_path, monkeypatch):
    """safetensors reports a full disk as its own SafetensorError ("I/O error: No space left on device (os
    error 28)"), not an OSError: found by the tmpfs fault test on a fresh clone, where it was INTERNAL."""
    from safetensors import SafetensorError

    from whetstone_worker import modeling

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(modeling, "save_output", full)
    with pytest.raises(WorkerError) as caught:
        run_sft(make_config(training__max_steps=2, training__checkpoint_every=2), tmp_path)
    assert caught.value.code == "DISK_FULL" and caught.value.recoverable
    assert str(tmp_path / "outputs") in caught.value.message and "step-00000002" in caught.value.message


def test_a_write_error_without_an_errno_on_a_full_folder_is_disk_full(tmp_path, monkeypatch):
    """torch's zip writer can report a write cut short by a full disk only as "unexpected pos 64 vs 0"
    (seen on a tmpfs filling up mid-checkpoint): with the folder it wrote to left without space, that
    is DISK_FULL, not a bug; the same error with space to spare is not."""
    from whetstone_worker import errors

    err = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
    assert not errors.is_disk_full(err)
    assert not errors.is_disk_full(err, tmp_path)  # this folder has space
    monkeypatch.setattr(errors, "free_bytes", lambda folder: 4096)
    assert errors.is_disk_full(err, tmp_path)
