"""`python -m whetstone_worker.forkserver`: a pre-imported parent that forks one worker per job.

A worker spends ~6 s of CPU importing torch, transformers and peft before it says hello, and the engine
starts a fresh worker for every job (a CUDA error leaves a process unusable, so processes are never
reused). This process pays the imports once; each job's worker is a fork of it, ready in milliseconds,
and still a fresh process that no other job has touched.

Speaks JSON lines with the engine that started it (stdin: requests, real stdout: answers):

    → {"type": "fork", "token": T, "socket": PATH}
    ← {"type": "ready", "pid": P}                               once, after the imports
    ← {"type": "forked", "token": T, "pid": P}
    ← {"type": "exited", "pid": P, "code": N | null, "signal": "SIGKILL" | null}

The forked worker connects twice to the engine's Unix socket PATH, first line `T protocol` then
`T log`; the first connection becomes its stdin and protocol stream, the second its stdout and
stderr, and it runs exactly what `python -m whetstone_worker` runs. It gets its own process group
(as a spawned worker does) and watches this process as its parent: when the engine goes, this process
sees its stdin close and exits, and each worker checkpoints and exits as it would have.

Rules that keep forking safe: nothing here starts a thread, touches CUDA or creates a tokenizer's
thread pool before forking (imports do none of these). Linux only: on macOS, frameworks that torch
loads do not survive a fork, and Windows has no fork; the engine spawns workers there as before.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

# What every job imports first; the job modules pull in the rest (the export writers and the hub
# client stay lazy: they are rare, and heavy).
PRELOAD = (
    "whetstone_worker.server",
    "whetstone_worker.recipes.sft",
    "whetstone_worker.recipes.preference",
    "whetstone_worker.jobs.generate",
    "whetstone_worker.jobs.audit",
    "whetstone_worker.jobs.merge",
    "whetstone_worker.jobs.preflight",
)


def _preload() -> None:
    import importlib

    # The same defaults the worker sets before its imports: huggingface_hub reads them when imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in PRELOAD:
        importlib.import_module(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401  (the auto classes' lazy modules)
    import peft  # noqa: F401


def _connect(path: str, token: str, role: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(f"{token} {role}\n".encode())
    return sock


def _become_worker(token: str, path: str, closing: list[int]) -> None:
    """In the forked child: take the engine's two connections as stdio and run the worker. Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in closing:  # the server's own pipes (0, 1 and 2 are replaced below)
            os.close(fd)
        os.setpgid(0, 0)
        protocol = _connect(path, token, "protocol")
        log = _connect(path, token, "log")
        os.dup2(protocol.fileno(), 0)
        os.dup2(protocol.fileno(), 1)
        os.dup2(log.fileno(), 2)
        protocol.close()
        log.close()
        sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
        sys.__stderr__ = sys.stderr
        # Every fork would otherwise draw the same numbers from NumPy's global generator (Python's
        # `random` reseeds itself after a fork; torch's default seed is fixed either way).
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        from .__main__ import _exit_now, main

        _exit_now(main())
    except BaseException:  # noqa: BLE001: a child must never return into the fork server's loop
        import traceback

        traceback.print_exc()
    os._exit(code)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def serve() -> int:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)  # a stray print must not land in the answers
    _preload()

    def answer(**event) -> None:
        answers.write(json.dumps(event) + "\n")
        answers.flush()

    # SIGCHLD wakes the select below through this pipe, so exits are reported at once.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stdin = sys.stdin.fileno()
    parent = os.getppid()
    pending = b""
    children: set[int] = set()
    answer(type="ready", pid=os.getpid())

    while True:
        readable, _, _ = select.select([stdin, wake_r], [], [], 0.25)
        if wake_r in readable:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
            children.discard(pid)
            if os.WIFSIGNALED(status):
                answer(type="exited", pid=pid, code=None, signal=_signal_name(os.WTERMSIG(status)))
            else:
                answer(type="exited", pid=pid, code=os.WEXITSTATUS(status), signal=None)
        if os.getppid() != parent:
            return 0  # the engine was killed: the workers see this process go and checkpoint
        if stdin not in readable:
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            return 0  # the engine closed its end
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                request = json.loads(line)
                token, path = str(request["token"]), str(request["socket"])
            except (ValueError, KeyError, TypeError):
                print(f"whetstone fork server: ignored a bad request: {line[:200]!r}", file=sys.stderr)
                continue
            answers.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _become_worker(token, path, [wake_r, wake_w, answers.fileno()])
            children.add(pid)
            answer(type="forked", token=token, pid=pid)


if __name__ == "__main__":
    sys.stdout.flush()
    code = serve()
    sys.stderr.flush()
    os._exit(code)
