"""`python -m whetstone_worker`: claim stdout for the protocol, say hello, serve commands.

Wiring only. The real stdout file descriptor is duplicated for protocol events and fd 1 is then
pointed at stderr, so a stray print, a library warning or a C extension writing to fd 1 lands in
the log instead of corrupting the JSON stream.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _claim_stdout():
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", newline="\n")


def main() -> int:
    out = _claim_stdout()
    # Models are local folders; never reach for the network, and keep progress bars out of the log.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import platform
    from importlib import metadata

    from . import PROTOCOL_VERSION, __version__
    from .device import describe_device
    from .protocol import Emitter
    from .server import Server

    emitter = Emitter(out.write, out.flush)
    packages = {}
    for name in ("torch", "transformers", "peft"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    emitter.emit(
        "hello",
        protocol=PROTOCOL_VERSION,
        worker_version=__version__,
        pid=os.getpid(),
        python=platform.python_version(),
        packages=packages,
        device=describe_device(),
    )
    # Undecodable bytes become U+FFFD and then a PROTOCOL_ERROR, instead of killing the reader thread.
    sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    server = Server(sys.stdin, emitter)
    # SIGTERM (the engine's "stop now") cancels like shutdown: the running job checkpoints first.
    # stop() runs on a thread because a handler that takes a lock the main thread holds deadlocks.
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.stop, daemon=True).start())
    try:
        return server.serve()
    except BrokenPipeError:  # the engine closed our stdout: nobody is listening any more
        print("whetstone worker: protocol stream closed, exiting", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
