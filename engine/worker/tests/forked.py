"""Workers forked from one fork server (whetstone_worker/forkserver.py) per test session, as the engine
forks them on Linux (engine/supervisor/forkserver.ts): the real worker (`__main__.main`, or with
`launch` the launcher of launch.py and its forked ranks) in a fresh process each, without a fresh
interpreter's ~6 s of torch, transformers and peft imports each.

The server listens on a socket in a private temporary folder (not the engine's shared one: a test
session's server must not outlive it); `fork()` asks it for a worker, whose two connections back are
its stdin/stdout (the protocol) and its stderr. `ForkedProcess` has the part of subprocess.Popen the
tests use. Linux only, like the fork server; elsewhere the tests spawn their workers.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from support import WORKER_ROOT

APPLIES = sys.platform == "linux"
TIMEOUT = 120


class _Writer:
    """The protocol connection's writing half, as a text stream; close() ends the worker's input."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def write(self, text: str) -> int:
        self._sock.sendall(text.encode("utf-8"))
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ForkedProcess:
    """A forked worker as subprocess.Popen shows a spawned one: pid, stdin, stdout, poll, wait, send_signal, kill."""

    def __init__(self, server: "_Server", pid: int, protocol: socket.socket, log: socket.socket, stderr_fd: int):
        self._server, self.pid, self.returncode = server, pid, None
        self.stdin = _Writer(protocol)
        self.stdout = protocol.makefile("r", encoding="utf-8", newline="\n")
        # The worker's stderr, appended to the caller's file through a descriptor of its own (O_APPEND:
        # the caller may seek and read its handle meanwhile).
        out = os.open(f"/proc/self/fd/{stderr_fd}", os.O_WRONLY | os.O_APPEND)

        def copy() -> None:
            with log, open(out, "wb", closefd=True) as sink:
                while chunk := log.recv(65536):
                    sink.write(chunk)
                    sink.flush()

        threading.Thread(target=copy, daemon=True).start()

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"forked worker {self.pid}", timeout)
            self._server.wait_for_exit(0.05)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="whetstone-pytest-fork-")
        self.path = os.path.join(self.dir, "server.sock")
        with open(os.path.join(self.dir, "server.log"), "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "whetstone_worker.forkserver", "--listen", self.path, "--idle", "60"],
                cwd=WORKER_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        self.control = self._connect()
        self.lines = self.control.makefile("r", encoding="utf-8")
        ready = json.loads(self.lines.readline() or "{}")
        assert ready.get("type") == "ready", f"the fork server did not say ready: {self._log()}"
        self.changed = threading.Condition()
        self.pids: dict[str, int] = {}
        self.exits: dict[int, int] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _log(self) -> str:
        with open(os.path.join(self.dir, "server.log"), encoding="utf-8", errors="replace") as f:
            return f.read()[-2000:]

    def _connect(self) -> socket.socket:
        end = time.monotonic() + TIMEOUT
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
                return sock
            except OSError:
                sock.close()
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise AssertionError(f"the fork server did not start: {self._log()}") from None
                time.sleep(0.1)

    def _read(self) -> None:
        for line in self.lines:
            message = json.loads(line)
            with self.changed:
                if message["type"] == "forked":
                    self.pids[message["token"]] = message["pid"]
                elif message["type"] == "exited":
                    code, sig = message["code"], message["signal"]
                    self.exits[message["pid"]] = code if code is not None else -signal.Signals[sig].value
                self.changed.notify_all()

    def exit_code(self, pid: int) -> int | None:
        with self.changed:
            return self.exits.get(pid)

    def wait_for_exit(self, seconds: float) -> None:
        with self.changed:
            self.changed.wait(seconds)

    def fork(self, stderr_fd: int, launch: list[str] | None = None) -> ForkedProcess:
        token = secrets.token_hex(8)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.path.join(self.dir, f"{token}.sock"))
        listener.listen(2)
        listener.settimeout(TIMEOUT)
        request = {"type": "fork", "token": token, "socket": listener.getsockname(), "env": dict(os.environ)}
        if launch is not None:
            request["launch"] = launch
        self.control.sendall((json.dumps(request) + "\n").encode())
        roles = {}
        with listener:
            for _ in range(2):
                conn, _ = listener.accept()
                conn.settimeout(None)
                head = b""
                while not head.endswith(b"\n"):  # byte by byte: what follows the first line is the worker's
                    head += conn.recv(1)
                got, role = head.decode().split()
                assert got == token, (got, token)
                roles[role] = conn
        with self.changed:
            self.changed.wait_for(lambda: token in self.pids, TIMEOUT)
            pid = self.pids.pop(token)
        return ForkedProcess(self, pid, roles["protocol"], roles["log"], stderr_fd)

    def close(self) -> None:
        self.control.close()
        self.proc.terminate()
        self.proc.wait(TIMEOUT)
        shutil.rmtree(self.dir, ignore_errors=True)


_server: _Server | None = None


def fork(stderr_fd: int, launch: list[str] | None = None) -> ForkedProcess:
    """A worker (with `launch`, torchrun's options: the launcher of a run on several processes) forked
    from this session's server, started on first use; its stderr is appended to `stderr_fd`."""
    global _server
    if _server is None:
        _server = _Server()
        atexit.register(_server.close)
    return _server.fork(stderr_fd, launch)
