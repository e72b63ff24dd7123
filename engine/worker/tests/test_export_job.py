"""export/job.py: the destination rules (exists, overwrite, overlap), the disk-space check, staging
and rename (cancel and write failures leave nothing), progress with an ETA, refused adapters and
options, the model card, and the real server answering an `export` line."""

from __future__ import annotations

import errno
import json
import shutil
import threading
from collections import namedtuple

import pytest
from export_fixtures import CARD, command, make_adapter, run_export
from support import Recorder

from whetstone_worker.errors import WorkerError
from whetstone_worker.export import card, job, source
from whetstone_worker.server import Server


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory):
    return make_adapter(tiny_model, tmp_path_factory.mktemp("export-job") / "adapter")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def refused(cmd) -> WorkerError:
    with pytest.raises(WorkerError) as err:
        run_export(cmd)
    return err.value


def test_an_existing_folder_is_refused_by_name_and_replaced_only_when_asked(tiny_model, adapter, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    err = refused(command(tiny_model, adapter, out))
    assert err.code == "EXPORT_EXISTS" and str(out) in err.message and "--overwrite" in err.hint
    assert (out / "keep.txt").read_text() == "mine"

    done = run_export(command(tiny_model, adapter, out, overwrite=True)).of("done")[0]
    assert done["status"] == "completed" and not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert leftovers(tmp_path) == []


def test_an_export_into_its_own_source_is_refused(tiny_model, adapter):
    err = refused(command(tiny_model, adapter, tiny_model, overwrite=True))
    assert err.code == "EXPORT_INVALID" and str(tiny_model) in err.message
    err = refused(command(tiny_model, adapter, adapter.parent, overwrite=True))  # a parent of the adapter
    assert err.code == "EXPORT_INVALID"


def test_too_little_disk_space_is_refused_with_the_numbers_before_writing(tiny_model, adapter, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    err = refused(command(tiny_model, adapter, tmp_path / "deep" / "out"))
    assert err.code == "DISK_FULL" and err.recoverable and str(tmp_path) in err.message
    assert "needs about 34.4 MB and 1.0 KB is free" in err.message  # 0.8 MB of weights + 5% + 32 MiB slack
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_up_mid_export_leaves_nothing_behind(tiny_model, adapter, tmp_path, monkeypatch):
    real = source.WeightSource.load
    calls = []

    def load(self, ref):
        calls.append(ref.name)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))
        return real(self, ref)

    monkeypatch.setattr(source.WeightSource, "load", load)
    err = refused(command(tiny_model, adapter, tmp_path / "out"))
    assert err.code == "DISK_FULL" and "partial export was removed" in err.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["safetensors", "gguf", "onnx"])
def test_cancel_between_tensors_ends_cancelled_with_no_folder(tiny_model, adapter, tmp_path, fmt):
    recorder = Recorder()
    seen = []

    def cancelled():  # true once the export has made progress on its tensors
        seen.extend(e for e in recorder.events[len(seen):])
        return any(e["type"] == "progress" and e["phase"] == "export" and e["current"] > 0 for e in seen)

    cmd = command(tiny_model, adapter, tmp_path / "out", fmt=fmt)
    job.run("c", cmd, recorder.emitter, cancelled)
    assert recorder.of("done")[-1]["status"] == "cancelled"
    assert list(tmp_path.iterdir()) == []


def test_progress_counts_bytes_with_an_eta(tiny_model, adapter, tmp_path, monkeypatch):
    monkeypatch.setattr(job.Progress, "advance", _unthrottled(job.Progress.advance))
    recorder = run_export(command(tiny_model, adapter, tmp_path / "out"))
    steps = [e for e in recorder.of("progress") if e["phase"] == "export"]
    assert steps[0]["unit"] == "bytes" and steps[-1]["current"] == steps[-1]["total"] == 202_048 * 4
    assert [e["current"] for e in steps] == sorted(e["current"] for e in steps)
    assert all(e["eta_s"] is not None for e in steps[1:]) and steps[-1]["eta_s"] == 0
    assert "tensor 21 of 21" in steps[-1]["message"]
    result = recorder.of("done")[0]["result"]
    assert result["parameters"] == 202_048 and result["estimated_bytes"] == 202_048 * 4
    assert result["bytes"] == sum(f["bytes"] for f in result["files"]) > result["estimated_bytes"]


def _unthrottled(advance):
    def wrapped(self, amount, message):
        self.last = -1e9
        return advance(self, amount, message)
    return wrapped


@pytest.mark.parametrize("setting, what", [
    ({"use_dora": True}, "DoRA on"),  # flagged, but no lora_magnitude_vector saved: cannot fold
    ({"init_lora_weights": "pissa"}, "init_lora_weights='pissa'"),
    ({"peft_type": "IA3"}, "IA3"),
])
def test_adapters_export_cannot_merge_are_refused_by_field(tiny_model, adapter, tmp_path, setting, what):
    odd = tmp_path / "odd"
    shutil.copytree(adapter, odd)
    config = json.loads((odd / "adapter_config.json").read_text())
    (odd / "adapter_config.json").write_text(json.dumps({**config, **setting}))
    err = refused(command(tiny_model, odd, tmp_path / "out"))
    assert err.code == "EXPORT_UNSUPPORTED" and what in err.message and "--format adapter" in err.hint


@pytest.mark.parametrize("over, code, text", [
    ({"format": "safetensors", "quantization": "q8_0"}, "EXPORT_INVALID", "gguf exports only"),
    ({"format": "gguf", "quantization": None}, "EXPORT_INVALID", "needs a quantization"),
    ({"format": "adapter", "tuned_kind": "model"}, "EXPORT_INVALID", "not an adapter"),
    ({"tuned_path": "/nowhere/adapter"}, "MODEL_NOT_FOUND", "/nowhere/adapter"),
])
def test_bad_options_are_refused_before_any_work(tiny_model, adapter, tmp_path, over, code, text):
    err = refused({**command(tiny_model, adapter, tmp_path / "out"), **over})
    assert err.code == code and text in err.message
    assert list(tmp_path.iterdir()) == []


def test_stale_staging_of_a_dead_worker_is_cleaned_up(tiny_model, adapter, tmp_path):
    stale = tmp_path / ".out.partial-999999999"
    stale.mkdir()
    run_export(command(tiny_model, adapter, tmp_path / "out"))
    assert not stale.exists()


def test_card_renders_unknown_facts_and_only_a_hub_id_as_base_model():
    facts = {**CARD, "base_model_name": "Qwen/Qwen2.5-0.5B-Instruct", "seed": 7, "notes": {"a": [1, 2]}}
    export = {"format": "gguf", "dtype": "float32", "quantization": "q8_0", "parameters": 1234,
              "files": [{"path": "model-q8_0.gguf", "bytes": 10}], "checks": {}}
    text = card.render(facts, export)
    assert 'base_model: "Qwen/Qwen2.5-0.5B-Instruct"' in text and "llama-cli -m model-q8_0.gguf" in text
    assert "| seed | 7 |" in text and "| notes.a | 1, 2 |" in text and "| quantization | q8_0 |" in text
    assert "base_model:" not in card.render(CARD, export)  # a local folder name is no Hub id


class _Stdin:
    def __init__(self, lines):
        self.lines, self.eof = lines, threading.Event()

    def __iter__(self):
        yield from (line + "\n" for line in self.lines)
        self.eof.wait()


def test_the_server_runs_an_export_line(tiny_model, adapter, tmp_path):
    recorder = Recorder()
    line = json.dumps(command(tiny_model, adapter, tmp_path / "out", fmt="adapter"))
    stdin = _Stdin([line, '{"v": 1, "type": "shutdown", "id": "bye"}'])
    assert Server(stdin, recorder.emitter).serve() == 0
    stdin.eof.set()
    done = recorder.of("done")[0]
    assert done["id"] == "export-1" and done["result"]["format"] == "adapter"
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
