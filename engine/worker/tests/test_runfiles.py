"""runfiles.append_lines: the rules engine/util/atomic.ts appendLine follows (tests/faults/tmpfs.test.ts
checks those on a real full disk)."""

from __future__ import annotations

import errno
import os

import pytest

from whetstone_worker import runfiles


def test_a_torn_last_line_gets_its_newline_before_the_next(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step":1}\n{"step":2,"lo', encoding="utf-8")  # a crash mid-append
    runfiles.append_lines(path, ['{"step":2}', '{"step":3}'])
    assert path.read_text(encoding="utf-8").split("\n") == ['{"step":1}', '{"step":2,"lo', '{"step":2}', '{"step":3}', ""]


def test_a_write_the_disk_refuses_part_way_is_cut_back_off(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    runfiles.append_lines(path, ['{"step":1}'])
    real_write = os.write

    def full_after(fd, data):  # the kernel takes 5 bytes, then there is no space left
        if len(data) > 5:
            return real_write(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runfiles.os, "write", full_after)
    with pytest.raises(OSError) as err:
        runfiles.append_lines(path, ['{"step":2,"loss":1.5}'])
    assert err.value.errno == errno.ENOSPC
    assert path.read_text(encoding="utf-8") == '{"step":1}\n'
