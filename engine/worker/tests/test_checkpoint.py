"""checkpoint.py: atomic writes, verification, picking the newest valid one, pruning, RNG state."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch

from whetstone_worker.checkpoint import (
    MANIFEST,
    latest_valid,
    read_training_state,
    step_name,
    verify,
    write_checkpoint,
    write_training_state,
)


def writer(payload: bytes):
    def write(folder):
        (folder / "weights.bin").write_bytes(payload)
        (folder / "sub").mkdir()
        (folder / "sub" / "state.json").write_text('{"ok": true}')

    return write


def save(run_dir, step, keep=3):
    return write_checkpoint(run_dir, step, writer(f"step {step}".encode()), {"config": {"a": 1}, "data_fingerprint": "abc"}, keep)


def test_layout_and_manifest(tmp_path):
    path = save(tmp_path, 6)
    assert path == tmp_path / "checkpoints" / "step-00000006"
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["step"] == 6 and manifest["config"] == {"a": 1} and manifest["data_fingerprint"] == "abc"
    assert set(manifest["files"]) == {"weights.bin", "sub/state.json"}
    assert manifest["files"]["weights.bin"]["size"] == len(b"step 6")
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000006"]  # no temp left behind


def test_leftover_temp_folder_and_incomplete_checkpoint_are_ignored(tmp_path):
    save(tmp_path, 6)
    leftover = tmp_path / "checkpoints" / f".tmp-{step_name(9)}-999999"
    leftover.mkdir()
    (leftover / "weights.bin").write_bytes(b"half")
    incomplete = tmp_path / "checkpoints" / step_name(12)  # a folder without manifest
    incomplete.mkdir()
    skipped = []
    path, manifest = latest_valid(tmp_path, on_skip=lambda name, why: skipped.append((name, why)))
    assert manifest["step"] == 6
    assert skipped == [("step-00000012", "no manifest (incomplete)")]


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: (p / "weights.bin").write_bytes(b"step X"), "does not match its hash"),
        (lambda p: (p / "weights.bin").write_bytes(b"step"), "wrong size"),
        (lambda p: (p / "sub" / "state.json").unlink(), "missing"),
        (lambda p: (p / MANIFEST).write_text("{"), "unreadable manifest"),
    ],
)
def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path, damage, reason):
    save(tmp_path, 3)
    damage(save(tmp_path, 6))
    manifest, why = verify(tmp_path / "checkpoints" / step_name(6))
    assert manifest is None and reason in why
    path, manifest = latest_valid(tmp_path)
    assert path.name == step_name(3)


def test_no_checkpoint_at_all(tmp_path):
    assert latest_valid(tmp_path) is None


def test_pruning_keeps_the_newest_n_only_after_the_new_one_is_complete(tmp_path):
    for step in (2, 4, 6, 8):
        save(tmp_path, step, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == [step_name(6), step_name(8)]

    def crash(folder):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_checkpoint(tmp_path, 10, crash, {}, keep=2)
    assert latest_valid(tmp_path)[0].name == step_name(8)  # nothing older was deleted for the failed write
    assert (tmp_path / "checkpoints" / step_name(6)).is_dir()


def test_rewriting_a_step_replaces_a_stale_copy_and_clears_other_pids_leftovers(tmp_path):
    save(tmp_path, 6)
    (tmp_path / "checkpoints" / f".tmp-{step_name(9)}-999999").mkdir()
    write_checkpoint(tmp_path, 6, writer(b"new"), {}, keep=2)
    assert (tmp_path / "checkpoints" / step_name(6) / "weights.bin").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [step_name(6)]


def test_training_state_round_trip_restores_every_rng(tmp_path):
    from whetstone_worker.checkpoint import restore_rng

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    write_training_state(tmp_path, {"optimizer": optimizer.state_dict()}, {"step": 3})
    expected = (random.random(), np.random.rand(), torch.rand(2))
    optimizer_state, rng, state = read_training_state(tmp_path)
    restore_rng(rng)
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(2), expected[2])
    assert state == {"step": 3}
    assert torch.equal(optimizer_state["optimizer"]["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
