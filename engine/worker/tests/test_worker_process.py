"""The real worker as a process of its own (__main__.py + server.py): handshake, events, errors, cancel,
generate, and exact resume after SIGKILL. These tests speak only the protocol, like the engine, to
workers forked as the engine forks them on Linux (forked.py)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading

import forked
import pytest
from support import WORKER_ROOT

from whetstone_worker.protocol import parse_message

TIMEOUT = 120


class Worker:
    def __init__(self, devices: int = 1):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        # Several devices: the launcher (torchrun's agent, its ranks forked from it), as the engine starts it
        # (rank 0 speaks the protocol). Forked from this session's fork server, as the engine forks its
        # workers on Linux; elsewhere spawned.
        launch = ["--standalone", f"--nproc-per-node={devices}"] if devices > 1 else None
        if forked.APPLIES:
            self.proc = forked.fork(self.stderr.fileno(), launch)
        else:
            module = ["-m", "whetstone_worker.launch", *launch] if launch else ["-m", "whetstone_worker"]
            self.proc = subprocess.Popen(
                [sys.executable, *module], cwd=WORKER_ROOT, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self.stderr, text=True, encoding="utf-8",
            )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, message: dict | str) -> None:
        self.proc.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.proc.stdin.flush()

    def next(self) -> dict:
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no event within {TIMEOUT}s; stderr:\n{self.log()}") from None
        assert line is not None, f"worker exited (rc {self.proc.wait()}); stderr:\n{self.log()}"
        return parse_message(line)  # every line on stdout must be a valid protocol message

    def until(self, done) -> list[dict]:
        events = [self.next()]
        while not done(events[-1]):
            events.append(self.next())
        return events

    def remaining(self) -> list[dict]:
        """Events still buffered after the process died."""
        self.proc.wait(timeout=TIMEOUT)
        out = []
        while (line := self.lines.get(timeout=TIMEOUT)) is not None:
            out.append(parse_message(line))
        return out

    def log(self) -> str:
        """The worker's stderr for a failure's message: its end, and where a process died (a fatal
        error's header and stack, which its list of extension modules alone would push out of the end)."""
        self.stderr.seek(0)
        text = self.stderr.read()
        fatal = text.find("Fatal Python error")
        head = text[fatal : fatal + 6000] + "\n[…]\n" if 0 <= fatal < len(text) - 4000 else ""
        return head + text[-4000:]

    def shutdown(self) -> int:
        self.send({"v": 1, "type": "shutdown", "id": "bye"})
        self.proc.stdin.close()
        return self.proc.wait(timeout=TIMEOUT)


def command(kind: str, job_id: str, run_dir, config: dict) -> dict:
    return {"v": 1, "type": kind, "id": job_id, "run_dir": str(run_dir), "config": config}


def finished(job_id: str):
    return lambda e: e.get("id") == job_id and e["type"] in ("done", "error")


def test_handshake_errors_cancel_and_generate(make_config, tmp_path):
    worker = Worker()
    try:
        hello = worker.next()
        assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["pid"] == worker.proc.pid
        assert set(hello["packages"]) == {"torch", "transformers", "peft"} and hello["device"]["kind"] == "cpu"

        worker.send("this is not json")
        worker.send('{"v": 1, "type": "train", "id": "half"}')
        errors = [e for e in worker.until(lambda e: e["type"] == "error" and e["id"] == "half") if e["type"] == "error"]
        assert [(e["code"], e["id"], e["recoverable"]) for e in errors] == [("PROTOCOL_ERROR", None, True), ("PROTOCOL_ERROR", "half", True)]
        assert "run_dir" in errors[1]["message"]

        missing = tmp_path / "no-such-model"
        worker.send(command("train", "job-missing", tmp_path / "run0", make_config(model__path=str(missing))))
        error = worker.until(finished("job-missing"))[-1]
        assert error["type"] == "error" and error["code"] == "MODEL_NOT_FOUND" and str(missing) in error["message"]

        run_dir = tmp_path / "run1"
        worker.send(command("train", "job-1", run_dir, make_config(training__epochs=50, training__checkpoint_every=1000)))
        before = worker.until(lambda e: e["type"] == "metrics" and e["step"] == 2)
        assert {e["phase"] for e in before if e["type"] == "progress"} >= {"load", "data", "train"}
        worker.send({"v": 1, "type": "cancel", "id": "c-1", "target": "job-1"})
        after = worker.until(finished("job-1"))
        done = after[-1]
        assert done["type"] == "done" and done["status"] == "cancelled"
        checkpoint = [e for e in after if e["type"] == "checkpoint"]
        assert len(checkpoint) == 1 and done["result"]["checkpoint"] == checkpoint[0]["path"]
        assert done["result"]["steps"] == checkpoint[0]["step"] >= 2

        prompt = [{"role": "user", "content": "Name a prime number."}]
        worker.send({"v": 1, "type": "generate", "id": "gen-1", "model_path": make_config()["model"]["path"],
                     "tuned_path": checkpoint[0]["path"] + "/adapter", "tuned_kind": "adapter", "sides": ["tuned"],
                     "prompts": [prompt, prompt], "max_new_tokens": 8, "temperature": 0, "top_p": 1, "seed": 0, "stream": False})
        events = worker.until(finished("gen-1"))
        generations = [e for e in events if e["type"] == "generation"]
        assert [g["index"] for g in generations] == [0, 1] and events[-1]["status"] == "completed"
        assert generations[0]["text"] == generations[1]["text"] and 0 < generations[0]["tokens"] <= 8

        assert worker.shutdown() == 0
    finally:
        worker.proc.kill()


def test_killed_run_resumes_exactly(make_config, tmp_path):
    # Dropout and NEFTune make the result depend on the restored RNG state, not only on the weights;
    # packing and goldfish on the data position. All on, explicitly (the golden config has them too).
    config = make_config(training__epochs=1, training__micro_batch_size=1, training__checkpoint_every=3, lora__dropout=0.1,
                         training__packing=True, training__neftune_alpha=5, training__goldfish={"k": 4, "h": 13, "variant": "hashed"})

    worker = Worker()
    worker.send(command("train", "a", tmp_path / "a", config))
    events = worker.until(finished("a"))
    assert worker.shutdown() == 0
    reference = {e["step"]: e["loss"] for e in events if e["type"] == "metrics"}
    total = len(reference)
    assert total == 19 and events[-1]["type"] == "done"  # 111 samples in 19 packed rows of 256 tokens, 1 row per step
    kinds = [e["type"] if e["type"] != "progress" else f"progress:{e['phase']}" for e in events]
    assert kinds[:3] == ["hello", "log", "progress:load"]
    assert kinds.index("progress:data") < kinds.index("progress:train") < kinds.index("metrics")
    assert kinds[-3:] == ["progress:save", "progress:save", "done"]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [3, 6, 9, 12, 15, 18, 19]
    assert all(e["dropped_tokens"] > 0 and 0 < e["packing_efficiency"] <= 1 for e in events if e["type"] == "metrics" and e["step"] > 3)

    victim = Worker()
    victim.send(command("train", "b", tmp_path / "b", config))
    before = victim.until(lambda e: e["type"] == "checkpoint" and e["step"] == 6)
    victim.proc.send_signal(signal.SIGKILL)
    before += victim.remaining()
    assert victim.proc.returncode == -signal.SIGKILL
    assert not [e for e in before if e["type"] == "done"], "the worker finished before it was killed"

    resumed = Worker()
    resumed.send(command("resume", "c", tmp_path / "b", config))
    after = resumed.until(finished("c"))
    assert resumed.shutdown() == 0
    assert after[-1]["type"] == "done" and after[-1]["status"] == "completed", resumed.log()
    note = next(e["message"] for e in after if e["type"] == "log" and e["message"].startswith("Resumed from"))
    start = int(note.split("step-")[1][:8])
    assert 6 <= start < total

    killed_losses = {e["step"]: e["loss"] for e in before if e["type"] == "metrics"}
    resumed_losses = {e["step"]: e["loss"] for e in after if e["type"] == "metrics"}
    assert sorted(resumed_losses) == list(range(start + 1, total + 1))
    for step, loss in reference.items():
        for run in (killed_losses, resumed_losses):
            if step in run:
                assert run[step] == pytest.approx(loss, abs=1e-5), f"step {step}"
    assert set(killed_losses) | set(resumed_losses) == set(reference)
