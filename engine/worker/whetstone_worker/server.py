"""The command loop: a reader thread turns stdin lines into commands, the main thread runs jobs.

Jobs run one at a time on the main thread (training owns the device; two jobs would only fight for
it). The reader thread keeps reading while a job runs, which is what makes `cancel` work: it marks
the target in a shared registry and the job polls that at every step boundary.

Stopping: `shutdown` is queued like any command, so jobs sent before it finish first (send `cancel`
before it to stop sooner). stdin EOF (the engine went away) and SIGTERM cancel everything instead:
the running job writes its checkpoint, queued jobs answer `done` cancelled without starting, and
the worker exits.

Errors never kill the loop: a bad line is PROTOCOL_ERROR, a WorkerError becomes its event, a bug
becomes INTERNAL with the traceback on stderr. The exception is a CUDA error, after which the
process's CUDA context is unusable: the worker reports it and exits, and the engine starts a fresh
one from the last checkpoint.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

from . import world
from .errors import Cancelled, WorkerError, disk_full, is_disk_full, out_of_memory
from .protocol import Emitter, ProtocolError, is_command, parse_message

STOP = None  # queue sentinel: shut down after the current job


class Jobs:
    """Thread-safe registry of submitted job ids and cancellation requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._finished: set[str] = set()
        self._cancelled: set[str] = set()

    def submit(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._known:
                return False
            self._known.add(job_id)
            return True

    def cancel(self, target: str) -> str:
        """Mark `target` cancelled; returns "ok", "finished" or "unknown"."""
        with self._lock:
            if target not in self._known:
                return "unknown"
            if target in self._finished:
                return "finished"
            self._cancelled.add(target)
            return "ok"

    def cancel_all(self) -> None:
        with self._lock:
            self._cancelled |= self._known - self._finished

    def is_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    def finish(self, job_id: str) -> None:
        with self._lock:
            self._finished.add(job_id)


def _id_of(line: str) -> str | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    job_id = raw.get("id") if isinstance(raw, dict) else None
    return job_id if isinstance(job_id, str) and job_id else None


# Command → the module that runs it (jobs/: one module per command besides training).
TASKS = {name: f"jobs.{name}" for name in ("generate", "audit", "export", "merge", "preflight", "pull", "push", "bench", "synth")}


def _dispatch(message: dict, emitter: Emitter, jobs: Jobs) -> None:
    job_id = message["id"]
    cancelled = lambda: jobs.is_cancelled(job_id)  # noqa: E731
    if cancelled():
        emitter.emit("done", id=job_id, status="cancelled", result={"started": False})
    elif message["type"] in ("train", "resume"):
        if world.current() is not None:  # the other ranks train this run with us (distributed.py)
            from . import distributed

            distributed.broadcast(message)
            cancelled = distributed.any_rank(cancelled)
        train(message, emitter, cancelled)
    elif message["type"] in TASKS:
        # A job's module, imported on its first use (each pulls in heavy libraries): run(id, message, emitter,
        # cancelled) returns its result, or raises Cancelled at a cancel; the answer is the server's to send.
        run_task(importlib.import_module(f".{TASKS[message['type']]}", __package__).run, job_id, message, emitter, cancelled)


def train(message: dict, emitter: Emitter, cancelled) -> None:
    """A train or resume command, run by its method's recipe (on every rank of a distributed worker)."""
    from .recipes import preference, sft  # imported on first use: hello should not wait for transformers

    recipe = sft if message["config"].method == "sft" else preference
    recipe.run(message["id"], message["run_dir"], message["config"], emitter, cancelled, resume=message["type"] == "resume")


def follow(stop) -> int:
    """A rank above 0 of a distributed worker: train each run rank 0 broadcasts, its events dropped, until
    rank 0 broadcasts the end. `stop` is set by a signal or the parent's death: a cancel, seen by every
    rank at the next step (any_rank). An error ends the process, and torchrun stops the others."""
    from . import distributed

    null = open(os.devnull, "w", encoding="utf-8")
    emitter = Emitter(null.write, null.flush)
    while (message := distributed.broadcast()) is not None:
        train(message, emitter, distributed.any_rank(stop.is_set))
    return 0


def run_task(run, job_id: str, message: dict, emitter: Emitter, cancelled) -> None:
    """A job's answer: `done` completed with what run() returned, or `done` cancelled when it stopped at a cancel."""
    try:
        result = run(job_id, message, emitter, cancelled)
    except Cancelled:
        emitter.emit("done", id=job_id, status="cancelled", result={})
        return
    emitter.emit("done", id=job_id, status="completed", result=result)


def _is_out_of_memory(err: BaseException) -> bool:
    # torch is imported by the job that needs it (a hub job never does): no torch, no torch error.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(err, torch.OutOfMemoryError)


def _is_cuda_failure(err: BaseException) -> bool:
    accelerator_error = getattr(sys.modules.get("torch"), "AcceleratorError", ())
    return bool(accelerator_error and isinstance(err, accelerator_error)) or (isinstance(err, RuntimeError) and "CUDA error" in str(err))


class Server:
    """Reads commands from `stdin` on a thread and runs jobs on the calling thread until stopped."""

    def __init__(self, stdin: IO[str], emitter: Emitter):
        self.stdin, self.emitter = stdin, emitter
        self.commands: queue.Queue = queue.Queue()
        self.jobs = Jobs()

    def stop(self) -> None:
        """Cancel every job (the running one checkpoints) and exit after it."""
        self.jobs.cancel_all()
        self.commands.put(STOP)

    def read_commands(self) -> None:
        emitter = self.emitter
        for raw in self.stdin:
            line = raw.strip()
            if not line:
                continue
            try:
                message = parse_message(line)
                if not is_command(message):
                    raise ProtocolError("type", f"{message['type']!r} is an event; the worker accepts commands only")
            except ProtocolError as err:
                if err.path == "config" or err.path.startswith("config."):
                    emitter.error(_id_of(line), "CONFIG_INVALID", f"Invalid run config: {err}",
                                  "Fix that field and start the run again (the engine normally catches this first).", False)
                else:
                    emitter.error(_id_of(line), "PROTOCOL_ERROR", f"Invalid command line: {err}",
                                  "The engine and the worker disagree on the protocol; update both to the same version.", True)
                continue
            kind = message["type"]
            if kind == "cancel":
                state = self.jobs.cancel(message["target"])
                if state != "ok":
                    emitter.log(message["id"], "warning", f"cancel: job {message['target']!r} is {state}; nothing to cancel")
            elif kind == "shutdown":
                self.commands.put(STOP)  # in order: queued jobs finish first; keep reading for cancels
            elif self.jobs.submit(message["id"]):
                self.commands.put(message)
            else:
                emitter.error(message["id"], "PROTOCOL_ERROR", f"Job id {message['id']!r} was already used by this worker.",
                              "Give every command a fresh id.", True)
        self.stop()  # stdin closed: the engine is gone, so stop cleanly with a checkpoint

    def serve(self) -> int:
        """Run commands until shutdown, EOF or stop(); returns the process exit code."""
        threading.Thread(target=self.read_commands, name="stdin", daemon=True).start()
        emitter = self.emitter
        emitter.log(None, "info", "worker ready")
        while (message := self.commands.get()) is not STOP:
            job_id = message["id"]
            try:
                _dispatch(message, emitter, self.jobs)
                continue
            except WorkerError as err:
                emitter.error(job_id, **err.event_fields())
            except Exception as err:
                if _is_out_of_memory(err):
                    from .device import pick_device

                    emitter.error(job_id, **out_of_memory(message["type"], pick_device().type, None).event_fields())
                elif is_disk_full(err):  # a write path without its own DISK_FULL (an export, a report): still the user's to fix
                    traceback.print_exc(file=sys.stderr)
                    filename = getattr(err, "filename", None)
                    folder = Path(filename).parent if filename else Path(message.get("out_dir") or message.get("run_dir") or ".")
                    emitter.error(job_id, **disk_full(folder, f"the {message['type']} output", None).event_fields())
                    continue
                else:
                    traceback.print_exc(file=sys.stderr)
                    fatal = _is_cuda_failure(err)
                    hint = ("The GPU reported an error and this worker must restart; resume the run to continue from its last checkpoint."
                            if fatal else "This is a bug in Whetstone; the run's log has the traceback.")
                    emitter.error(job_id, "INTERNAL", f"unexpected: {type(err).__name__}: {err}", hint, True)
                    if fatal:
                        return 1
            finally:
                self.jobs.finish(job_id)
            if world.current() is not None:
                # The other ranks may wait in a collective the failed job never reached: exit, and torchrun stops them.
                return 1
        if world.current() is not None:
            from . import distributed

            distributed.broadcast(None)  # the other ranks' end
        emitter.log(None, "info", "worker shutting down")
        return 0
