"""The launcher's watch over forked ranks (launch.py) names every rank that failed, not only the first
that torch's ProcessContext.join happens to look at: a rank killed by a signal must be named even when
rank 0 failed at the same moment (on the connection the killed rank took with it)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessExitedException

from whetstone_worker import launch


def _both_fail(index: int) -> None:
    if index == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.3)
    sys.exit(1)


@pytest.mark.skipif(sys.platform != "linux", reason="forked ranks are Linux only")
def test_every_failed_rank_is_named_when_two_end_together(capfd):
    launch.report_every_failure()
    launch.report_every_failure()  # once is enough: a second call wraps nothing again
    context = mp.start_processes(_both_fail, nprocs=2, join=False, start_method="fork")
    for process in context.processes:  # both ended before the watch looks: it sees them in one wait
        process.join()
    with pytest.raises(ProcessExitedException) as raised:
        context.join()
    named = {raised.value.error_index: raised.value.exit_code}
    for line in capfd.readouterr().err.splitlines():
        if line.startswith("failed (exitcode: "):
            code, rank = line.removeprefix("failed (exitcode: ").split(") local_rank: ")
            named[int(rank.split()[0])] = int(code)
    assert named == {0: 1, 1: -signal.SIGKILL}
