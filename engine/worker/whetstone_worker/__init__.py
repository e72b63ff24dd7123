"""Whetstone's training worker: a child process that speaks JSON lines (see engine/protocol/README.md).

The engine owns runs, configs and the user; the worker owns tensors. Everything the worker does is
reachable from one command on stdin and reported as events on stdout, so the worker can be killed
at any moment and a fresh one resumed from the last checkpoint.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
