"""The `pull` command against a loopback fake hub (tests/fakehub.py): the real huggingface_hub download
path, resume after a cut connection, checksums, gated / missing / offline / disk-full errors."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fakehub import FakeHub
from support import WORKER_ROOT, Recorder

from whetstone_worker.jobs import pull
from whetstone_worker.errors import WorkerError
from whetstone_worker.server import run_task

REPO = "fake-org/tiny-llama"


@pytest.fixture()
def hub(tiny_model):
    server = FakeHub({f"model:{REPO}": str(tiny_model)}, cut="model.safetensors").start()
    yield server
    server.close()


def _pull(hub_url: str, cache: Path, repo: str = REPO, repo_type: str = "model") -> Recorder:
    rec = Recorder()
    message = {"id": "p1", "repo_id": repo, "repo_type": repo_type, "revision": None, "endpoint": hub_url, "cache_dir": str(cache)}
    run_task(pull.run, "p1", message, rec.emitter, lambda: False)
    return rec


def test_pull_downloads_resumes_and_verifies(hub, tiny_model, tmp_path):
    rec = _pull(hub.url, tmp_path / "hub")
    done = rec.of("done")[0]["result"]
    snapshot = Path(done["path"])
    assert snapshot == tmp_path / "hub" / "models--fake-org--tiny-llama" / "snapshots" / done["commit"]
    for f in tiny_model.iterdir():
        if f.is_file() and not f.name.startswith("."):
            assert hashlib.sha256((snapshot / f.name).read_bytes()).digest() == hashlib.sha256(f.read_bytes()).digest(), f.name
    assert (tmp_path / "hub" / "models--fake-org--tiny-llama" / "refs" / "main").read_text() == done["commit"]
    assert done["verified_files"] == done["files"] == 6
    # The first transfer of the weights was cut half-way; the retry asked only for the rest.
    gets = [r for r in hub.requests if r["method"] == "GET" and r["path"].endswith("/model.safetensors")]
    assert len(gets) == 2 and gets[0]["range"] is None
    size = (tiny_model / "model.safetensors").stat().st_size
    resumed_from = int(gets[1]["range"].removeprefix("bytes=").split("-")[0])
    assert 0 < resumed_from < size
    progress = rec.of("progress")
    assert progress[-1]["current"] == progress[-1]["total"] == done["bytes"] and progress[-1]["unit"] == "bytes"

    # A second pull finds everything cached: nothing is fetched again.
    before = len([r for r in hub.requests if "/resolve/" in r["path"] and r["method"] == "GET"])
    again = _pull(hub.url, tmp_path / "hub").of("done")[0]["result"]
    assert again["downloaded_bytes"] == 0
    assert len([r for r in hub.requests if "/resolve/" in r["path"] and r["method"] == "GET"]) == before


def test_pull_errors_say_what_to_do(tiny_model, tmp_path, monkeypatch):
    gated = FakeHub({f"model:{REPO}": str(tiny_model)}, gated_token="hf_secret").start()
    try:
        monkeypatch.delenv("HF_TOKEN", raising=False)
        with pytest.raises(WorkerError) as err:
            _pull(gated.url, tmp_path / "hub")
        assert err.value.code == "HUB_GATED" and f"{gated.url}/{REPO}" in err.value.hint and "whetstone models login" in err.value.hint
        with pytest.raises(WorkerError) as err:
            _pull(gated.url, tmp_path / "hub", repo="fake-org/nope")
        assert err.value.code == "HUB_NOT_FOUND"
        monkeypatch.setattr(pull, "_free_bytes", lambda path: 1000)
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        with pytest.raises(WorkerError) as err:
            _pull(gated.url, tmp_path / "hub")
        assert err.value.code == "HUB_DISK_FULL" and "GiB free" in err.value.message
    finally:
        gated.close()
    monkeypatch.undo()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(WorkerError) as err:
        _pull(f"http://127.0.0.1:{port}", tmp_path / "hub")
    assert err.value.code == "HUB_OFFLINE" and REPO in err.value.message and "model.path" in err.value.hint


def test_pull_dataset_repo(tmp_path):
    from support import TINY_CHAT

    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.jsonl").write_bytes(TINY_CHAT.read_bytes())
    server = FakeHub({"dataset:fake-org/tiny-chat": str(folder)}).start()
    try:
        done = _pull(server.url, tmp_path / "hub", repo="fake-org/tiny-chat", repo_type="dataset").of("done")[0]["result"]
        assert Path(done["path"]).parent.parent.name == "datasets--fake-org--tiny-chat"
        assert (Path(done["path"]) / "train.jsonl").read_bytes() == TINY_CHAT.read_bytes()
        assert any(r["path"].startswith("/datasets/fake-org/tiny-chat/resolve/") for r in server.requests)
        with pytest.raises(WorkerError) as err:  # a dataset id pulled as a model: not found, with the hint
            _pull(server.url, tmp_path / "hub", repo="fake-org/tiny-chat")
        assert err.value.code == "HUB_NOT_FOUND" and "--dataset" in err.value.hint
    finally:
        server.close()


def test_a_hub_only_worker_pulls_without_importing_torch(hub, tmp_path):
    """The engine starts a pull's (and a push's) worker with WHETSTONE_NO_DEVICE=1: it says hello without a
    device and never imports torch (a start of ~0.1 CPU-s instead of ~1.4 s and ~300 MB)."""
    env = {**os.environ, "WHETSTONE_NO_DEVICE": "1", "HF_HUB_OFFLINE": "0", "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "stderr.txt").open("w+")  # a file: importtime's lines would fill a pipe nobody reads yet
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "whetstone_worker"], cwd=WORKER_ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    pull_command = {"v": 1, "type": "pull", "id": "p1", "repo_id": REPO, "repo_type": "model", "revision": None, "endpoint": hub.url, "cache_dir": str(tmp_path / "hub")}
    proc.stdin.write(json.dumps(pull_command) + "\n")
    proc.stdin.flush()
    events = []
    while not (events and events[-1]["type"] in ("done", "error")) and (line := proc.stdout.readline()):
        events.append(json.loads(line))
    # Shut down once it answered (end of input would cancel the pull).
    proc.communicate(json.dumps({"v": 1, "type": "shutdown", "id": "bye"}) + "\n", timeout=120)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 0, err[-3000:]
    assert events[0]["type"] == "hello" and events[0]["device"] is None
    done = [e for e in events if e["type"] == "done"]
    assert done and done[0]["status"] == "completed" and done[0]["result"]["verified_files"] == 6, events[-3:]
    imported = {line.rsplit("|", 1)[1].strip() for line in err.splitlines() if line.startswith("import time:")}
    assert "huggingface_hub" in imported
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
