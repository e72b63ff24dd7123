"""The `push` command against the loopback fake hub (tests/fakehub.py + fakehub_upload.py), through the
real huggingface_hub client: the files land with their bytes, a push stopped half-way resumes without
sending again what the hub stored, repos that are not ours are refused before any upload request,
`private` reaches the hub, progress counts bytes; the pushed repo is pulled back by the pull job."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fakehub import FakeHub
from support import Recorder

from whetstone_worker.errors import WorkerError
from whetstone_worker.jobs import pull, push
from whetstone_worker.server import run_task

TOKEN = "hf_WriteTokenForTests0123456789"
CARD = {"name": "tiny-push", "base_model": "/models/tiny-llama", "base_model_name": "fake-org/tiny-llama", "method": "sft",
        "finetune": "lora", "license": "apache-2.0", "datasets": ["fake-org/tiny-chat"],
        "evaluation": {"judge": {"against": "the base model", "prompts": 20, "judge": "tiny-judge", "win_rate": 0.625,
                                 "win_rate_ci": [0.45, 0.8], "lc_win_rate": 0.6, "lc_win_rate_ci": [0.4, 0.78],
                                 "wins": 12, "ties": 1, "losses": 7}}}
EXPORT = {"format": "safetensors", "dtype": "float32", "quantization": None, "parameters": 202_048, "checks": {}}


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    # tokenizer.json (53 kB) is LFS too, so two LFS objects; the weights (810 kB) go multipart in 300 kB parts.
    server = FakeHub({}, tokens={TOKEN: "write", "hf_ReadOnly0123456789": "read", "hf_FineGrained0123456789": "fineGrained"},
                     lfs_threshold=40_000, multipart_chunk=300_000, store=str(tmp_path / "store")).start()
    yield server
    server.close()


def _push(hub: FakeHub, folder: Path | None, repo: str, private: bool = False, cancelled=lambda: False) -> Recorder:
    rec = Recorder()
    message = {"id": "push-1", "repo_id": repo, "folder": folder and str(folder), "check_only": folder is None, "private": private, "endpoint": hub.url,
               "commit_message": "Upload tiny-push with Whetstone", "card": CARD, "export": folder and EXPORT}
    run_task(push.run, "push-1", message, rec.emitter, cancelled)
    return rec


def _refused(hub: FakeHub, folder: Path, repo: str, **kw) -> WorkerError:
    with pytest.raises(WorkerError) as err:
        _push(hub, folder, repo, **kw)
    return err.value


def _uploads(hub: FakeHub) -> list[str]:
    return [r["path"] for r in hub.requests if r["method"] == "PUT"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_a_push_lands_resumes_after_a_stop_and_pulls_back(hub, tiny_model, tmp_path):
    repo = "fake-user/tiny-push"
    # Stopped once the hub holds its first object (the weights): the next file is never sent, nothing is committed.
    stopped = _push(hub, tiny_model, repo, private=True, cancelled=lambda: len(list((hub.store / ".lfs").iterdir())) >= 1)
    assert stopped.of("done")[0]["status"] == "cancelled" and hub.commit_log == []
    first = _uploads(hub)
    weights = hashlib.sha256((tiny_model / "model.safetensors").read_bytes()).hexdigest()
    assert first == [f"/lfs/part/{weights}/{n}" for n in (1, 2, 3)]
    created = [r for r in hub.requests if r["path"] == "/api/repos/create"]
    assert len(created) == 1 and created[0]["payload"]["visibility"] == "private" and hub.private[f"model:{repo}"]

    rec = _push(hub, tiny_model, repo, private=True)
    done = rec.of("done")[0]["result"]
    tokenizer = hashlib.sha256((tiny_model / "tokenizer.json").read_bytes()).hexdigest()
    assert _uploads(hub)[len(first):] == [f"/lfs/upload/{tokenizer}"]  # the weights are not sent again
    # Everything travels but the weights: tokenizer.json now, the small files and the card inside the commit.
    assert done["already_on_hub"] == ["model.safetensors"] and done["uploaded_bytes"] == done["bytes"] - (tiny_model / "model.safetensors").stat().st_size
    assert done["created"] is False and done["private"] is True and done["url"] == f"{hub.url}/{repo}"
    pushed = hub.store / repo
    assert {k: v for k, v in _files(pushed).items() if k != "README.md"} == _files(tiny_model)
    assert len(hub.commit_log) == 1 and hub.commit_log[0]["summary"] == "Upload tiny-push with Whetstone"

    # Progress: checksums then uploads, in bytes; the upload's total is what had to travel, and it ends there.
    phases = [e["phase"] for e in rec.of("progress")]
    assert phases.index("hash") < phases.index("upload") < phases.index("commit")
    last = [e for e in rec.of("progress") if e["phase"] == "upload"][-1]
    assert last["unit"] == "bytes" and last["current"] == last["total"] == (tiny_model / "tokenizer.json").stat().st_size and last["eta_s"] == 0

    # The card names the repo and carries the front matter the hub reads (parsed by huggingface_hub itself).
    from huggingface_hub import ModelCard

    readme = (pushed / "README.md").read_text()
    meta = ModelCard(readme).data
    assert (meta.base_model, meta.license, meta.datasets, meta.library_name) == ("fake-org/tiny-llama", "apache-2.0", ["fake-org/tiny-chat"], "transformers")
    assert f'AutoModelForCausalLM.from_pretrained("{repo}")' in readme and "win rate 62.5% (95% CI 45.0% to 80.0%)" in readme

    # Nothing changed: nothing is sent and no commit is made.
    again = _push(hub, tiny_model, repo, private=True).of("done")[0]["result"]
    assert again["uploaded_bytes"] == 0 and len(again["already_on_hub"]) == again["files"] == 7
    assert again["commit"] == done["commit"] and len(hub.commit_log) == 1
    assert _uploads(hub)[len(first):] == [f"/lfs/upload/{tokenizer}"]

    # The real download path reads the pushed repo back, checksums verified.
    got = Recorder()
    run_task(pull.run, "p", {"id": "p", "repo_id": repo, "repo_type": "model", "revision": None, "endpoint": hub.url,
                             "cache_dir": str(tmp_path / "cache")}, got.emitter, lambda: False)
    pulled = got.of("done")[0]["result"]
    assert pulled["verified_files"] == 7 and _files(Path(pulled["path"])) == _files(pushed)


def test_a_cancel_mid_file_stops_at_once_and_the_file_is_sent_again_whole(hub, tiny_model):
    weights = hashlib.sha256((tiny_model / "model.safetensors").read_bytes()).hexdigest()
    # Stopped while the second of the weights' three parts is read: the library's upload is cut mid-file.
    stopped = _push(hub, tiny_model, "fake-user/cut", cancelled=lambda: 1 in hub.parts.get(weights, {}))
    assert stopped.of("done")[0]["status"] == "cancelled" and stopped.of("error") == []
    assert not (hub.store / ".lfs" / weights).exists() and hub.commit_log == []
    done = _push(hub, tiny_model, "fake-user/cut").of("done")[0]["result"]
    # An LFS object is stored whole or not at all: a file cut mid-way is sent again from its start.
    assert done["already_on_hub"] == [] and _uploads(hub).count(f"/lfs/part/{weights}/1") == 2
    assert (hub.store / ".lfs" / weights).read_bytes() == (tiny_model / "model.safetensors").read_bytes()


def test_check_only_answers_without_creating_anything(hub):
    assert _push(hub, None, "fake-org/new-model", private=True).of("done")[0]["result"] == {
        "repo_id": "fake-org/new-model", "url": f"{hub.url}/fake-org/new-model", "exists": False, "private": True, "user": "fake-user"}
    assert [r["method"] for r in hub.requests] == ["GET", "GET"] and hub.repos == {}
    assert _refused(hub, None, "someone-else/model").code == "HUB_REPO_NOT_OURS"


def test_repos_that_are_not_ours_are_refused_before_any_upload_request(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub = FakeHub({"model:someone-else/their-model": str(tiny_model)}, store=str(tmp_path / "store"),
                  tokens={TOKEN: "write", "hf_ReadOnly0123456789": "read", "hf_FineGrained0123456789": "fineGrained"},
                  user={"name": "fake-user", "orgs": [{"name": "fake-org", "roleInOrg": "write"}, {"name": "read-org", "roleInOrg": "read"}]}).start()
    try:
        err = _refused(hub, tiny_model, "someone-else/their-model")
        assert err.code == "HUB_REPO_NOT_OURS" and "belongs to someone-else" in err.message and "fake-user (organizations: fake-org, read-org)" in err.message
        assert "fake-user/their-model" in err.hint
        err = _refused(hub, tiny_model, "someone-else/new-model")
        assert err.code == "HUB_REPO_NOT_OURS" and "cannot be created there" in err.message
        err = _refused(hub, tiny_model, "read-org/model")
        assert err.code == "HUB_WRITE_DENIED" and "read-only" in err.message
        monkeypatch.setenv("HF_TOKEN", "hf_ReadOnly0123456789")
        assert _refused(hub, tiny_model, "fake-user/model").code == "HUB_WRITE_DENIED"
        # A token whoami does not call read-only, which the hub refuses to write with: refused at the creation.
        monkeypatch.setenv("HF_TOKEN", "hf_FineGrained0123456789")
        err = _refused(hub, tiny_model, "fake-user/model")
        assert err.code == "HUB_WRITE_DENIED" and "403" in err.message
        monkeypatch.setenv("HF_TOKEN", "hf_Unknown0123456789")
        assert _refused(hub, tiny_model, "fake-user/model").code == "HUB_UNAUTHORIZED"
        monkeypatch.delenv("HF_TOKEN")
        err = _refused(hub, tiny_model, "fake-user/model")
        assert err.code == "HUB_TOKEN_MISSING" and "whetstone models login" in err.hint
        writes = [r for r in hub.requests if r["method"] in ("POST", "PUT") and r["path"] != "/api/repos/create"]
        assert writes == [] and not (hub.store / "fake-user").exists()
    finally:
        hub.close()


def test_an_existing_public_repo_is_not_pushed_to_as_private(hub, tiny_model):
    # Without `private` the creation leaves the visibility to the hub's default (public here), and says what it got.
    first = _push(hub, tiny_model, "fake-user/public-one").of("done")[0]["result"]
    created = next(r for r in hub.requests if r["path"] == "/api/repos/create")
    assert "visibility" not in created["payload"] and "private" not in created["payload"] and first["private"] is False
    before = len(hub.requests)
    err = _refused(hub, tiny_model, "fake-user/public-one", private=True)
    assert err.code == "HUB_REPO_PUBLIC" and not hub.private["model:fake-user/public-one"]
    assert [r["method"] for r in hub.requests[before:]] == ["GET", "GET"]  # whoami and the repo's info, nothing else
