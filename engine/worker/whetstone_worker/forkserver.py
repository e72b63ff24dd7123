"""`python -m whetstone_worker.forkserver --listen PATH`: a pre-imported parent that forks one worker per job,
shared by every engine of this user that runs the same interpreter, worker code and import-time
environment (engine/supervisor/forkserver.ts derives PATH from those).

A worker spends ~6 s of CPU importing torch, transformers and peft before it says hello, and the engine
starts a fresh worker for every job (a CUDA error leaves a process unusable, so processes are never
reused). This process pays the imports once; each job's worker is a fork of it, ready in milliseconds,
and still a fresh process that no other job has touched. Shared across processes, a CLI command, the
app and a test file each find it warm instead of paying the imports again.

Each engine connects to PATH (a Unix socket in a directory only this user can enter) and speaks JSON
lines on that connection:

    ← {"type": "ready", "pid": P}                                    once the imports are done
    → {"type": "fork", "token": T, "socket": S, "env": {...}[, "launch": [torchrun's options] | "run": [python's arguments]]}
    ← {"type": "forked", "token": T, "pid": P}
    ← {"type": "exited", "pid": P, "code": N | null, "signal": "SIGKILL" | null}   for its own workers

The forked worker takes the engine's environment (the part that libraries read at import is the same
for everyone here: it is in PATH's name), connects twice to the engine's own Unix socket S, first line
`T protocol` then `T log`; the first connection becomes its stdin and protocol stream, the second its
stdout and stderr, and it runs exactly what `python -m whetstone_worker` runs, in its own process
group; with "launch", what `python -m whetstone_worker.launch OPTIONS` runs: torchrun's agent, whose
ranks are forks of that child (launch.py); with "run", what `python ARGS` would run (`-c CODE …`,
`-m MODULE …`), its output on those two connections (a one-off script that needs the worker's libraries:
the tests' reference computations). When its engine goes, its protocol connection closes: it
sees end of input, checkpoints and exits, as a spawned worker does. It does not watch this server: other engines' workers carry on if
this process is killed, and the next engine that needs a worker starts another server.

One server per PATH: it holds an exclusive lock on PATH.lock while it lives (a second one started in a
race exits with code 3, and its engine connects to the first). It leaves after `--idle` seconds (600)
with no engine connected and no worker running, and removes its socket.

Rules that keep forking safe: nothing here starts a thread, touches CUDA or creates a tokenizer's
thread pool before forking (imports do none of these). Linux only: on macOS, frameworks that torch
loads do not survive a fork, and Windows has no fork; the engine spawns workers there as before.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import socket
import sys
import time

ANOTHER_SERVER = 3  # exit code: another server holds this socket's lock

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


def preload() -> None:
    """Import what every job imports first (also the spawned launcher's, launch.py, before it forks its ranks)."""
    import importlib

    # The same defaults the worker sets before its imports: huggingface_hub reads them when imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in PRELOAD:
        importlib.import_module(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401  (the auto classes' lazy modules)
    import peft  # noqa: F401

    from .__main__ import package_versions

    package_versions()
    # transformers builds its table of checkpoint renamings (~660 regular expressions, compiled: 0.38 s
    # of CPU) at the first model load of a process, and keeps it: built here, every fork has it.
    try:
        from transformers import conversion_mapping

        conversion_mapping.get_checkpoint_conversion_mapping("llama")
    except (ImportError, AttributeError):  # another transformers: each worker builds what it needs
        pass


def _connect(path: str, token: str, role: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(f"{token} {role}\n".encode())
    return sock


def _run_python(argv: list[str]) -> int:
    """`python ARGV` in this pre-imported process: `-c CODE ARGS…`, `-m MODULE ARGS…` or `SCRIPT ARGS…`,
    with sys.argv as the interpreter would set it; its exit code."""
    import runpy
    import traceback

    try:
        if argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        elif argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001: reported as the interpreter reports it
        traceback.print_exc()
        return 1
    return 0


def _become_worker(token: str, path: str, env: dict, closing: list[int], launch: list[str] | None, run: list[str] | None) -> None:
    """In the forked child: take the engine's environment and two connections as stdio, and run the worker,
    or with `launch` (torchrun's options) the launcher of a run on several processes (launch.py), whose
    ranks are forks of this child, or with `run` (an interpreter's arguments) that command. Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in closing:  # the server's listener, its engines' connections, its lock and wake-up pipe
            try:
                os.close(fd)
            except OSError:
                pass
        os.setpgid(0, 0)
        os.environ.clear()
        os.environ.update(env)
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

        if launch is not None:
            from .launch import launch as run_ranks

            _exit_now(run_ranks(launch))
        if run is not None:
            _exit_now(_run_python(run))
        _exit_now(main(watch_parent=False))  # this server may go first; its engine's connection is what counts
    except BaseException:  # noqa: BLE001: a child must never return into the fork server's loop
        import traceback

        traceback.print_exc()
    os._exit(code)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _log_cpu(path: str, test: str, usage) -> None:
    """`npm test -- --cpu` (scripts/test.mjs) sets WHETSTONE_CPU_LOG: each worker's CPU time, with its
    own forks' (ranks), is added to that file under the test file that asked for it."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"file": test, "forks": usage.ru_utime + usage.ru_stime}) + "\n")
    except OSError:
        pass


class _Engine:
    """One engine's connection: its unread bytes and its workers (their exits are reported to it)."""

    def __init__(self, conn: socket.socket):
        self.conn, self.pending, self.alive = conn, b"", True

    def answer(self, **event) -> None:
        if not self.alive:
            return
        try:
            self.conn.sendall((json.dumps(event) + "\n").encode())
        except OSError:
            self.alive = False


def serve(path: str, idle: float) -> int:
    lock = open(path + ".lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return ANOTHER_SERVER
    try:
        os.unlink(path)  # left by a server that died (we hold the lock: no live server owns it)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)  # engines may connect now; they are answered once the imports are done
    inode = os.stat(path).st_ino
    preload()

    # SIGCHLD wakes the select below through this pipe, so exits are reported at once.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    engines: dict[int, _Engine] = {}
    owners: dict[int, _Engine] = {}  # worker pid -> the engine that asked for it
    cpu_logs: dict[int, tuple[str, str]] = {}  # worker pid -> (WHETSTONE_CPU_LOG, its test), see _log_cpu
    quiet_since = time.monotonic()

    while True:
        readable, _, _ = select.select([listener, wake_r, *(e.conn for e in engines.values())], [], [], 1.0)
        if wake_r in readable:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        for pid in list(owners):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done == 0:
                continue
            owner = owners.pop(pid)
            if pid in cpu_logs:
                _log_cpu(*cpu_logs.pop(pid), usage)
            if os.WIFSIGNALED(status):
                owner.answer(type="exited", pid=pid, code=None, signal=_signal_name(os.WTERMSIG(status)))
            else:
                owner.answer(type="exited", pid=pid, code=os.WEXITSTATUS(status), signal=None)
        if listener in readable:
            conn, _ = listener.accept()
            engine = engines[conn.fileno()] = _Engine(conn)
            engine.answer(type="ready", pid=os.getpid())
        for engine in list(engines.values()):
            if engine.conn not in readable and engine.alive:
                continue
            chunk = b""
            if engine.alive:
                try:
                    chunk = engine.conn.recv(65536)
                except OSError:
                    chunk = b""
            if not chunk:  # that engine left; its workers carry on (their protocol connection is theirs)
                engines.pop(engine.conn.fileno(), None)
                engine.alive = False
                engine.conn.close()
                continue
            engine.pending += chunk
            while b"\n" in engine.pending:
                line, engine.pending = engine.pending.split(b"\n", 1)
                try:
                    request = json.loads(line)
                    token, target, env = str(request["token"]), str(request["socket"]), dict(request["env"])
                    launch = [str(a) for a in request["launch"]] if request.get("launch") is not None else None
                    run = [str(a) for a in request["run"]] if request.get("run") else None
                except (ValueError, KeyError, TypeError):
                    print(f"whetstone fork server: ignored a bad request: {line[:200]!r}", file=sys.stderr)
                    continue
                sys.stderr.flush()
                closing = [listener.fileno(), lock.fileno(), wake_r, wake_w, *(e.conn.fileno() for e in engines.values())]
                pid = os.fork()
                if pid == 0:
                    _become_worker(token, target, {str(k): str(v) for k, v in env.items()}, closing, launch, run)
                owners[pid] = engine
                if env.get("WHETSTONE_CPU_LOG"):
                    cpu_logs[pid] = (str(env["WHETSTONE_CPU_LOG"]), str(env.get("WHETSTONE_TEST_FILE") or env.get("PYTEST_CURRENT_TEST", "").split("::")[0]))
                engine.answer(type="forked", token=token, pid=pid)
        if engines or owners:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > idle:
            break
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m whetstone_worker.forkserver")
    parser.add_argument("--listen", required=True, help="the Unix socket engines connect to")
    parser.add_argument("--idle", type=float, default=600.0, help="seconds without engines or workers before it leaves")
    args = parser.parse_args()
    os.dup2(2, 1)  # a stray print goes to the log, like everything else
    return serve(args.listen, args.idle)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
