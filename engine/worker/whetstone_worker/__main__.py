"""`python -m whetstone_worker`: claim stdout for the protocol, say hello, serve commands (under
torchrun, ranks above 0 follow rank 0 instead: distributed.py).

Wiring only. The real stdout file descriptor is duplicated for protocol events and fd 1 is then
pointed at stderr, so a stray print, a library warning or a C extension writing to fd 1 lands in
the log instead of corrupting the JSON stream.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time


class _Stderr:
    """sys.stderr that survives the engine's death: stderr is a pipe the engine reads, and once it is
    gone a write raises BrokenPipeError wherever it happens (a warning mid-checkpoint). The first
    failed write points fd 1 and 2 at the null device, and the worker carries on to its checkpoint."""

    def __init__(self, inner):
        self._inner = inner

    def _silence(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.dup2(null, 1)
        os.close(null)

    def write(self, text):
        try:
            return self._inner.write(text)
        except (BrokenPipeError, ConnectionResetError):
            self._silence()
            return len(text)

    def flush(self):
        try:
            self._inner.flush()
        except (BrokenPipeError, ConnectionResetError):
            self._silence()

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _claim_stdout():
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stderr = _Stderr(sys.stderr)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", newline="\n")


def _watch_parent(on_gone) -> None:
    """Poll the parent pid: an engine killed with SIGKILL cannot say goodbye, and the worker runs in
    its own process group, so nothing else would stop it. Its stdin EOF usually says so first."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.25)
    on_gone()


@functools.cache
def package_versions() -> dict[str, str]:
    """The hello's package versions, read from their metadata once per process (the fork server reads
    them before forking: ~12 ms a worker otherwise)."""
    from importlib import metadata

    packages = {}
    for name in ("torch", "transformers", "peft"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return packages


def _device() -> dict | None:
    """The hello's device; None for a worker the engine starts for the hub only (a pull, a push:
    WHETSTONE_NO_DEVICE=1), which then never imports torch (~1.3 s of CPU and ~300 MB a start)."""
    if os.environ.get("WHETSTONE_NO_DEVICE") == "1":
        return None
    from .device import describe_device

    return describe_device()


def main(watch_parent: bool = True) -> int:
    """`watch_parent`: stop when the parent process goes. A forked worker's parent is the fork server,
    shared by many engines; its own engine's death closes the protocol connection (end of input) instead."""
    out = _claim_stdout()
    # Models are local folders; never reach for the network, and keep progress bars out of the log.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from .world import from_env

    world = from_env()
    if world is not None:  # started by torchrun, one of several ranks (distributed.py)
        from . import distributed

        distributed.init(world)
        if not world.main:
            return _follower()

    import platform

    from . import PROTOCOL_VERSION, __version__
    from .protocol import Emitter
    from .server import Server

    emitter = Emitter(out.write, out.flush)
    emitter.emit(
        "hello",
        protocol=PROTOCOL_VERSION,
        worker_version=__version__,
        pid=os.getpid(),
        python=platform.python_version(),
        packages=package_versions(),
        device=_device(),
    )
    # Undecodable bytes become U+FFFD and then a PROTOCOL_ERROR, instead of killing the reader thread.
    sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    server = Server(sys.stdin, emitter)
    emitter.on_closed = server.stop  # the engine stopped reading: checkpoint and exit
    # SIGTERM (the engine's "stop now") and SIGINT (Ctrl-C where the worker shares a terminal's process
    # group) cancel like shutdown: the running job checkpoints first; a second one exits at once.
    # stop() runs on a thread because a handler that takes a lock the main thread holds deadlocks.
    signals = []

    def on_signal(signum, frame):
        signals.append(signum)
        if len(signals) > 1:
            os._exit(128 + signum)
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if os.name == "posix" and watch_parent:
        threading.Thread(target=_watch_parent, args=(server.stop,), name="parent", daemon=True).start()
    try:
        return server.serve()
    except BrokenPipeError:  # the engine closed our stdout: nobody is listening any more
        print("whetstone worker: protocol stream closed, exiting", file=sys.stderr)
        return 1


def _follower() -> int:
    """A rank above 0: no hello, no stdin, no events (rank 0 speaks for all); a signal or the parent's
    death asks for a cancel, as it does of rank 0, and a second signal exits at once."""
    from .server import follow

    stop = threading.Event()
    signals = []

    def on_signal(signum, frame):
        signals.append(signum)
        if len(signals) > 1:
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if os.name == "posix":
        threading.Thread(target=_watch_parent, args=(stop.set,), name="parent", daemon=True).start()
    return follow(stop)


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown. With torch, transformers and a model loaded, freeing
    every module and object takes about a second of CPU per worker (the engine waits for the exit
    before it reports the job done); everything the job wrote is already closed and on disk, so
    only Python's own buffers need a flush."""
    for stream in (sys.stdout, sys.stderr, sys.__stderr__):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
