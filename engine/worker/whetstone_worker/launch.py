"""`python -m whetstone_worker.launch [torchrun's options]`: a run on several processes, launched by
torchrun's own agent, with ranks that are forks of the launcher instead of fresh interpreters.

torchrun starts each rank as `python -m whetstone_worker`, and every rank then spends ~6 s of CPU
importing torch, transformers and peft, on top of the ~2.5 s torchrun spends importing torch. Here the
launcher has the worker's modules imported already (it is a fork of the pre-imported fork server,
forkserver.py, or, spawned, it imports them once), and the agent forks its ranks from it (torch's
`fork` start method for a function entrypoint). A 2-process run starts with well under a second of
CPU instead of ~14 s.

The rest is torchrun's, called as torch.distributed.run calls it: its options (--standalone, --nnodes,
--node-rank, --master-addr, --master-port, --nproc-per-node), its rendezvous, each rank's environment
(RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, …), its OMP_NUM_THREADS=1 default for several processes,
its monitoring (a failed rank brings the others down; "failed (exitcode: -9) local_rank: 1 (pid: …)"
and the failure summary go to stderr, read by engine/supervisor/torchrun.ts) and the signals it passes
on to the ranks. Two things differ, both kept compatible: the ranks are the launcher's children in its
process group (torchrun gives each a session of its own; the engine finds them as the launcher's
children either way), and the agent says "Closing process P via signal S" where torchrun says
"Sending process P closing signal S".

A rank is what `python -m whetstone_worker` runs (__main__.main): rank 0 speaks the protocol on the
launcher's stdin and stdout, which it inherits, the others follow it. Forked ranks are Linux only, like
the fork server; elsewhere this is torchrun as it is.
"""

from __future__ import annotations

import os
import sys
import uuid

# Linux: ranks are forks. On macOS the frameworks torch loads do not survive a fork (and Windows has
# none), so there each rank is a fresh interpreter, as torchrun starts it.
FORKS = sys.platform == "linux"


def _rank() -> None:
    """One rank, in a fork of the launcher, its environment already set by the agent."""
    # multiprocessing replaced stdin with the null device in the child; fd 0 is still the launcher's
    # stdin (a standard stream's object never closes its descriptor), which rank 0 reads commands from.
    sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        # A fresh interpreter's OpenMP would read this at import; this one imported before the agent
        # set it (torchrun's default of 1 per process on a shared machine).
        import torch

        torch.set_num_threads(int(threads))
    from .__main__ import _exit_now, main

    code = main()
    if code != 0:
        _exit_now(code)
    # Success returns: the agent collects each rank's return value before it counts the run done.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


def report_every_failure() -> None:
    """Make torch's ProcessContext.join (the agent's watch over forked ranks) name every rank that failed.

    It raises for the first failed rank it finds, and when two ended together (rank 1 killed, rank 0
    failing on the lost connection a moment later) that may be rank 0, whose error only says it lost
    a peer: the killed rank was then never named. torchrun's own ranks are each checked, so every
    failure is reported. Here, once join has joined them all, each other failed rank is logged as the
    agent logs the first ("failed (exitcode: -9) local_rank: 1 (pid: …)"), which the engine reads
    (engine/supervisor/torchrun.ts); ranks the agent stopped itself are in its "Terminating process"
    lines, so they are not taken for a cause. Idempotent; only the launcher calls it."""
    from torch.multiprocessing.spawn import ProcessContext, ProcessException

    join = ProcessContext.join
    if getattr(join, "whetstone_reports_all", False):
        return

    def join_reporting_all(self, *args, **kwargs):
        try:
            return join(self, *args, **kwargs)
        except ProcessException as e:
            for index, process in enumerate(getattr(self, "processes", [])):
                if index != e.error_index and process.exitcode not in (0, None):
                    print(f"failed (exitcode: {process.exitcode}) local_rank: {index} (pid: {process.pid})", file=sys.stderr, flush=True)
            raise

    join_reporting_all.whetstone_reports_all = True
    ProcessContext.join = join_reporting_all


def launch(argv: list[str]) -> int:
    """torch.distributed.run's `run`, with this module's forked ranks as the entrypoint on Linux (elsewhere
    torchrun's own: each rank a fresh interpreter). 1 when a rank failed."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    args = parse_args([*argv, "-m", "whetstone_worker"])
    # As torch.distributed.run.run: --standalone is a c10d store on this machine at a free port.
    if args.standalone:
        args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id = "c10d", "localhost:0", str(uuid.uuid4())
    if args.master_port is None:
        args.master_port = 29500
    config, entrypoint, entry_args = config_from_args(args)
    if FORKS:
        config.start_method = "fork"
        entrypoint, entry_args = _rank, []
        report_every_failure()
    try:
        elastic_launch(config=config, entrypoint=entrypoint)(*entry_args)
    except ChildFailedError as e:
        print(e.format_msg(), file=sys.stderr, flush=True)
        return 1
    return 0


def main() -> int:
    from .__main__ import _exit_now

    if FORKS:
        from . import forkserver

        # Spawned: import once here (with the worker's environment defaults), so the forked ranks do
        # not each import again. Elsewhere each rank is a fresh worker that sets them itself.
        forkserver.preload()
    _exit_now(launch(sys.argv[1:]))
    return 1


if __name__ == "__main__":
    main()
