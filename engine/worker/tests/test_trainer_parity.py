"""Correctness guard for the speed work: our recipe (packed rows, block-diagonal attention, chunked
loss) and plain transformers Trainer + PEFT (padded batches, full logits), from the same init on the
same samples per step, reach the same per-step losses. Packing and the chunked loss must not
change the math; if either leaked across samples or dropped a token, the losses would part."""

from __future__ import annotations

import pytest
import torch

from whetstone_bench.hf_baseline import run_hf_trainer

STEPS = 4


@pytest.fixture(scope="module")
def both(tiny_model, tiny_tokenizer, tmp_path_factory):
    from support import REPO_ROOT, Recorder, golden_config, set_dotted

    from whetstone_worker.config import parse_run_config
    from whetstone_worker.recipes.sft import SFTRecipe

    tmp = tmp_path_factory.mktemp("parity")
    raw = set_dotted(
        golden_config(), model__path=str(tiny_model), data__train=str(REPO_ROOT / "examples" / "tiny-chat.jsonl"), data__validation=None,
        training__max_steps=STEPS, training__micro_batch_size=1, training__gradient_accumulation=1, training__learning_rate=3e-3,
        training__scheduler="constant", training__warmup_ratio=0.0, training__neftune_alpha=0, training__goldfish=None,
        training__packing=True, training__chunked_loss=True, training__checkpoint_every=1000, lora__dropout=0.0,
    )
    config = parse_run_config(raw)
    recorder = Recorder()
    recipe = SFTRecipe("job", tmp / "ours", config, recorder.emitter, lambda: False)
    recipe.run(False)
    ours = [recorder.losses()[k] for k in range(1, STEPS + 1)]
    batches = [recipe.plan.micro_batch(g) for g in range(STEPS)]
    assert all(len(b) > 1 for b in batches), "each packed row should hold several samples, or packing is not exercised"

    def baseline(lr: float, order=batches):
        return run_hf_trainer(str(tiny_model), tiny_tokenizer, recipe.samples, micro_batch=1, accumulation=1, steps=STEPS, lr=lr,
                              seed=config.training.seed, lora=config.lora, bf16=False, batches=order, out_dir=str(tmp / f"hf{lr}"))

    return ours, baseline, config.training.learning_rate


def test_packed_chunked_recipe_matches_hf_trainer_step_for_step(both):
    ours, baseline, lr = both
    theirs = baseline(lr)
    assert theirs["padded_tokens"][0] > theirs["real_tokens"][0]  # the baseline really computed on padding
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(theirs["losses"]), rtol=2e-5, atol=2e-5)
    assert ours[-1] < ours[0]  # and it trained


def test_the_guard_sees_a_different_update(both):
    ours, baseline, lr = both
    nudged = baseline(lr * 1.1)["losses"]  # 10% more learning rate: the first step agrees, later ones must not
    assert abs(nudged[0] - ours[0]) < 2e-5
    assert max(abs(a - b) for a, b in zip(ours[1:], nudged[1:])) > 20 * 2e-5
