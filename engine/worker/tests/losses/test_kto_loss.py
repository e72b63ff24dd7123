"""losses/kto.py against TRL's KTOTrainer._compute_loss on the same logits: loss, rewards, the KL reference
point and the gradients agree within 1e-5 (issue #20)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from whetstone_worker.losses import kto as K
from whetstone_worker.losses.preference import token_logps

kto_trainer = pytest.importorskip("trl.trainer.kto_trainer")

ROWS, T, VOCAB = 6, 9, 17


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather_for_metrics(x):
        return x


def _trl(logits, ref_logits, kl_logits, ref_kl_logits, batch, beta, wd, wu):
    """TRL's own loss code, unbound, on a stand-in trainer whose models return the given logits."""
    policy = lambda **kw: SimpleNamespace(logits=kl_logits if kw["input_ids"] is batch["KL_input_ids"] else logits)  # noqa: E731
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=_Accelerator(), loss_type="kto", beta=beta,
        desirable_weight=wd, undesirable_weight=wu, calculate_KL=True, precompute_ref_logps=True,
        aux_loss_enabled=False, _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
    )
    from trl.trainer.utils import selective_log_softmax

    def kl_logps(model, b):  # TRL's _compute_kl_logps: the mismatched rows under `model`, no gradient
        with torch.no_grad():
            out = model(input_ids=b["KL_input_ids"], attention_mask=b["KL_attention_mask"]).logits[:, :-1]
        logps = selective_log_softmax(out, b["KL_input_ids"][:, 1:])
        logps[b["KL_completion_mask"][:, 1:] == 0] = 0.0
        return logps.sum(-1)

    trainer._compute_kl_logps = kl_logps
    ref = selective_log_softmax(ref_logits[:, :-1], batch["input_ids"][:, 1:])
    ref[batch["completion_mask"][:, 1:] == 0] = 0.0
    ref_kl = selective_log_softmax(ref_kl_logits[:, :-1], batch["KL_input_ids"][:, 1:])
    ref_kl[batch["KL_completion_mask"][:, 1:] == 0] = 0.0
    full = {**batch, "ref_logps": ref.sum(-1), "ref_KL_logps": ref_kl.sum(-1)}
    loss = kto_trainer.KTOTrainer._compute_loss(trainer, policy, full, return_outputs=False)
    return loss, trainer._metrics["train"]


@pytest.mark.parametrize("beta, wd, wu, labels", [
    (0.1, 1.0, 1.0, [True, False, True, True, False, False]),
    (0.5, 1.0, 1.33, [True, True, True, True, True, False]),
    (2.0, 0.7, 1.0, [False, False, True, False, False, False]),
])
def test_kto_equals_trl(beta, wd, wu, labels):
    g = torch.Generator().manual_seed(int(beta * 10))
    ids = torch.randint(0, VOCAB, (ROWS, T), generator=g)
    kl_ids = torch.roll(ids, 1, 0)  # stand-in mismatched rows
    mask = torch.ones(ROWS, T, dtype=torch.long)
    completion = torch.zeros(ROWS, T, dtype=torch.long)
    completion[:, 4:] = 1
    completion[1, 7:] = 0  # uneven lengths
    kl_completion = torch.roll(completion, 1, 0)
    batch = {"input_ids": ids, "attention_mask": mask, "completion_mask": completion, "label": torch.tensor(labels),
             "KL_input_ids": kl_ids, "KL_attention_mask": mask, "KL_completion_mask": kl_completion}
    logits = torch.randn(ROWS, T, VOCAB, generator=g, dtype=torch.float64)
    ref_logits, kl_logits, ref_kl_logits = (torch.randn(ROWS, T, VOCAB, generator=g, dtype=torch.float64) for _ in range(3))

    ours_logits = logits.clone().requires_grad_(True)
    trl_logits = logits.clone().requires_grad_(True)
    trl_loss, metrics = _trl(trl_logits, ref_logits, kl_logits, ref_kl_logits, batch, beta, wd, wu)

    labels_of = lambda m: torch.where(m.bool(), ids, -100)  # noqa: E731  our labels: IGNORE outside the response
    kl_labels = torch.where(kl_completion.bool(), kl_ids, -100)
    kl = K.reference_point(token_logps(kl_logits, kl_labels).sum(-1), token_logps(ref_kl_logits, kl_labels).sum(-1))
    out = K.kto(token_logps(ours_logits, labels_of(completion)).sum(-1), token_logps(ref_logits, labels_of(completion)).sum(-1),
                torch.tensor(labels), kl, beta, wd, wu)
    ours_loss = out.losses.mean()

    assert ours_loss.item() == pytest.approx(trl_loss.item(), abs=1e-5)
    assert kl.item() == pytest.approx(metrics["kl"][-1], abs=1e-5)
    desirable = torch.tensor(labels)
    if desirable.any():
        assert out.rewards[desirable].mean().item() == pytest.approx(metrics["rewards/chosen"][-1], abs=1e-5)
    if (~desirable).any():
        assert out.rewards[~desirable].mean().item() == pytest.approx(metrics["rewards/rejected"][-1], abs=1e-5)
    ours_loss.backward()
    trl_loss.backward()
    assert (ours_logits.grad - trl_logits.grad).abs().max().item() < 1e-5
    assert trl_logits.grad.abs().max().item() > 1e-4  # the comparison is not between two zeros


def test_the_reference_point_carries_no_gradient_and_never_goes_below_zero():
    logps = torch.tensor([-3.0, -2.0], requires_grad=True)
    assert K.reference_point(logps, torch.tensor([-1.0, -1.0])).item() == 0.0
    kl = K.reference_point(logps, torch.tensor([-5.0, -5.0]))
    assert kl.item() == pytest.approx(2.5) and not kl.requires_grad
