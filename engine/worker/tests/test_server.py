"""server.py in-process: bad lines, duplicate ids, INTERNAL and OOM translation, shutdown and EOF."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from support import Recorder, golden_config

from whetstone_worker.errors import WorkerError
from whetstone_worker.recipes import sft
from whetstone_worker.server import Server


def train(job_id: str) -> str:
    return json.dumps({"v": 1, "type": "train", "id": job_id, "run_dir": "/tmp/unused", "config": golden_config()})


class Stdin:
    """The engine's end of the pipe: the lines, then EOF only when `eof` is set."""

    def __init__(self, lines: list[str], eof: bool):
        self.lines, self.eof = lines, threading.Event()
        if eof:
            self.eof.set()

    def __iter__(self):
        yield from (line + "\n" for line in self.lines)
        self.eof.wait()


def serve(lines: list[str]) -> Recorder:
    """Serve `lines` followed by shutdown and return what was emitted."""
    recorder = Recorder()
    stdin = Stdin(lines + ['{"v": 1, "type": "shutdown", "id": "bye"}'], eof=False)
    assert Server(stdin, recorder.emitter).serve() == 0
    stdin.eof.set()
    return recorder


@pytest.fixture
def fake_sft(monkeypatch):
    """Replace the recipe: behaviour per job id, so the tests exercise only the server."""
    behaviours = {}

    def run(job_id, run_dir, config, emitter, cancelled, resume):
        behaviours[job_id](job_id, emitter, cancelled)

    monkeypatch.setattr(sft, "run", run)
    return behaviours


def test_bad_lines_are_protocol_errors_and_the_worker_goes_on(fake_sft):
    fake_sft["ok"] = lambda job_id, emitter, cancelled: emitter.emit("done", id=job_id, status="completed", result={})
    recorder = serve([
        "garbage",
        '{"v": 1, "type": "log", "id": null, "level": "info", "message": "an event"}',
        train("ok"),
        train("ok"),
        '{"v": 1, "type": "cancel", "id": "c", "target": "ghost"}',
    ])
    errors = recorder.of("error")
    assert [e["code"] for e in errors] == ["PROTOCOL_ERROR"] * 3
    assert "is an event" in errors[1]["message"] and "already used" in errors[2]["message"]
    assert [d["id"] for d in recorder.of("done")] == ["ok"]
    assert any("'ghost' is unknown" in e["message"] for e in recorder.of("log"))
    assert recorder.events[-1]["message"] == "worker shutting down"


def test_a_bad_config_is_config_invalid_naming_the_field():
    bad = json.loads(train("job"))
    bad["config"]["training"]["warmup_steps"] = 10
    error = serve([json.dumps(bad)]).of("error")[0]
    assert (error["code"], error["id"]) == ("CONFIG_INVALID", "job")
    assert "config.training.warmup_steps: unknown field" in error["message"]


def test_errors_become_events(fake_sft):
    def boom(job_id, emitter, cancelled):
        raise KeyError("x")

    def oom(job_id, emitter, cancelled):
        raise torch.OutOfMemoryError("CUDA out of memory")

    def user_error(job_id, emitter, cancelled):
        raise WorkerError("DATA_EMPTY", "nothing", "add data", recoverable=False)

    fake_sft.update(boom=boom, oom=oom, user=user_error)
    recorder = serve([train("boom"), train("oom"), train("user")])
    by_id = {e["id"]: e for e in recorder.of("error")}
    assert by_id["boom"]["code"] == "INTERNAL" and "KeyError" in by_id["boom"]["message"]
    assert by_id["oom"]["code"] == "OUT_OF_MEMORY" and "micro_batch_size" in by_id["oom"]["hint"]
    assert (by_id["user"]["code"], by_id["user"]["hint"], by_id["user"]["recoverable"]) == ("DATA_EMPTY", "add data", False)


def test_eof_cancels_the_running_job_and_queued_jobs_never_start(fake_sft):
    stdin = Stdin([train("first"), train("second")], eof=False)

    def until_cancelled(job_id, emitter, cancelled):
        stdin.eof.set()  # the engine goes away while this job runs
        while not cancelled():
            pass
        emitter.emit("done", id=job_id, status="cancelled", result={"steps": 0})

    fake_sft["first"] = until_cancelled
    fake_sft["second"] = lambda *args: pytest.fail("a queued job started after EOF")
    recorder = Recorder()
    assert Server(stdin, recorder.emitter).serve() == 0
    assert [(d["id"], d["status"], d["result"]) for d in recorder.of("done")] == [
        ("first", "cancelled", {"steps": 0}),
        ("second", "cancelled", {"started": False}),
    ]


def test_shutdown_lets_queued_jobs_finish(fake_sft):
    finish = lambda job_id, emitter, cancelled: emitter.emit("done", id=job_id, status="completed", result={})  # noqa: E731
    fake_sft.update(one=finish, two=finish)
    recorder = serve([train("one"), train("two")])
    assert [(d["id"], d["status"]) for d in recorder.of("done")] == [("one", "completed"), ("two", "completed")]
