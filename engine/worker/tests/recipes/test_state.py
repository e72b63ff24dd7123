"""TrainState (recipes/state.py): the counters saved and restored as a unit, in the trainer_state.json
layout checkpoints have always had, so checkpoints written before TrainState existed still resume."""

from __future__ import annotations

import json
from pathlib import Path

from whetstone_worker.checkpoint import MANIFEST, sha256_file
from whetstone_worker.data.batches import make_plan
from whetstone_worker.recipes.state import TrainState

# trainer_state.json of step 2 of 4 as the worker wrote it before TrainState (c03ff97), minus
# dropped_tokens, which checkpoints written before goldfish lack.
OLD_LAYOUT = {
    "step": 2, "total_steps": 4,
    "data_position": {"epoch": 0, "micro_batch": 2, "micro_batches_consumed": 2, "micro_batches_in_epoch": 28, "packed": False},
    "scheduler": {"kind": "cosine", "step": 2},
    "tokens": 1000, "trained_tokens": 400, "elapsed_s": 1.5, "last_loss": 7.25,
}


def test_the_state_round_trips_in_the_old_layout(tmp_path):
    plan = make_plan(111, 4, 1, 1, 4, 0)
    state = TrainState(step=2, tokens=1000, trained_tokens=400, dropped_tokens=0, elapsed_before=1.0, last_loss=7.25)
    assert state.to_json(plan, "cosine", 1.5) == dict(OLD_LAYOUT, dropped_tokens=0)
    restored = TrainState.from_json(OLD_LAYOUT, tmp_path)
    assert restored == TrainState(step=2, tokens=1000, trained_tokens=400, dropped_tokens=0, elapsed_before=1.5, last_loss=7.25,
                                  last_checkpoint=tmp_path, session_start=restored.session_start)


def _rewrite(checkpoint: Path, name: str, content: dict) -> None:
    """Replace one file of a checkpoint and its manifest entry, as if it had been written so."""
    (checkpoint / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
    manifest = json.loads((checkpoint / MANIFEST).read_text())
    manifest["files"][name] = {"size": (checkpoint / name).stat().st_size, "sha256": sha256_file(checkpoint / name)}
    (checkpoint / MANIFEST).write_text(json.dumps(manifest, indent=1))


def test_a_checkpoint_in_the_old_layout_resumes_exactly(make_config, run_sft, tmp_path):
    config = make_config(training__max_steps=4, training__checkpoint_every=2, training__goldfish=None, training__packing=False)
    full, _ = run_sft(config, tmp_path / "a")
    run_sft(config, tmp_path / "b", cancelled=lambda: (tmp_path / "b" / "checkpoints" / "step-00000002").exists())
    checkpoint = tmp_path / "b" / "checkpoints" / "step-00000002"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    _rewrite(checkpoint, "trainer_state.json", {k: state[k] for k in OLD_LAYOUT})  # the keys the old worker wrote, no dropped_tokens
    resumed, _ = run_sft(config, tmp_path / "b", resume=True)
    assert resumed.losses() == {s: full.losses()[s] for s in (3, 4)}
    last = resumed.of("metrics")[-1]
    assert (last["tokens"], last["trained_tokens"], last["dropped_tokens"]) == tuple(full.of("metrics")[-1][k] for k in
                                                                                    ("tokens", "trained_tokens", "dropped_tokens"))
