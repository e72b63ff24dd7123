"""DPO, SimPO and ORPO losses, rewards and gradients equal TRL's on the same model and inputs (1e-5).

TRL is a test-only dependency (requirements-dev.txt). Its loss code is called directly: DPO through
DPOTrainer._compute_loss (with precomputed reference log-probs), SimPO and conservative DPO through
CPOTrainer.cpo_loss, ORPO through ORPOTrainer.odds_ratio_loss and its NLL definition. Each method is
bound to a namespace carrying the few attributes it reads, since building a trainer needs a dataset
pipeline and hub access we do not have offline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from whetstone_worker.data.batches import IGNORE
from whetstone_worker.data.pairs import build_pairs, collate_pairs
from whetstone_worker.losses import preference as L
from whetstone_worker.modeling import load_model, pad_id

trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")
from trl.experimental.cpo.cpo_trainer import CPOTrainer  # noqa: E402
from trl.experimental.orpo.orpo_trainer import ORPOTrainer  # noqa: E402

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def setup(tiny_model, tiny_tokenizer, tmp_path_factory):
    rows = [
        {"prompt": [{"role": "user", "content": f"Tell me about {w}."}],
         "chosen": [{"role": "assistant", "content": f"{w.title()} is a fine thing to talk about."}],
         "rejected": [{"role": "assistant", "content": "No."}]}
        for w in ("apples", "rivers", "clouds")
    ]
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs, _ = build_pairs(tiny_tokenizer, path, 128, "error")
    torch.manual_seed(0)
    model = load_model(tiny_model, torch.float32, False, torch.device("cpu"))
    return model, collate_pairs(pairs, pad_id(tiny_tokenizer))


def _grads(model, loss) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


def _ours(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    tokens = L.token_logps(logits, batch["labels"])
    n = batch["input_ids"].shape[0] // 2
    counts = (batch["labels"][:, 1:] != IGNORE).sum(-1)
    return logits, tokens, tokens.sum(-1)[:n], tokens.sum(-1)[n:], counts[:n], counts[n:]


def _accelerator():
    same = lambda x: x  # noqa: E731  (one process: gathering is the identity)
    return SimpleNamespace(device=torch.device("cpu"), gather=same, gather_for_metrics=same, unwrap_model=same)


def test_prompt_tokens_are_masked_and_rows_are_chosen_then_rejected(setup):
    _, batch = setup
    labels = batch["labels"]
    assert labels.shape[0] == 6
    chosen, rejected = (labels[:3] != IGNORE).sum(-1), (labels[3:] != IGNORE).sum(-1)
    assert (chosen > rejected).all()  # the long helpful answers are the chosen rows
    first = int((labels[0] != IGNORE).nonzero()[0])
    assert first > 5  # the prompt and template header are not trained


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_dpo_matches_trl(setup, label_smoothing):
    model, batch = setup
    n = batch["input_ids"].shape[0] // 2
    ref_chosen, ref_rejected = torch.tensor([-40.0, -35.5, -42.25]), torch.tensor([-8.0, -9.5, -7.75])
    beta = 0.1
    _, _, chosen, rejected, _, _ = _ours(model, batch)
    ours = L.dpo(chosen, rejected, ref_chosen, ref_rejected, beta, label_smoothing)
    our_grads = _grads(model, ours.losses.mean())
    if label_smoothing == 0:
        trainer = SimpleNamespace(
            model=model, accelerator=_accelerator(), aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True,
            f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0], beta=beta, label_smoothing=0.0,
            use_weighting=False, _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
        )
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                  "completion_mask": (batch["labels"] != IGNORE).long(), "ref_chosen_logps": ref_chosen, "ref_rejected_logps": ref_rejected}
        theirs = trl_dpo.DPOTrainer._compute_loss(trainer, model, inputs, False)
        metrics = {k: v[-1] for k, v in trainer._metrics["train" if model.training else "eval"].items()}
        assert metrics["rewards/chosen"] == pytest.approx(float(ours.chosen_rewards.mean()), abs=1e-5)
        assert metrics["rewards/rejected"] == pytest.approx(float(ours.rejected_rewards.mean()), abs=1e-5)
        assert metrics["rewards/margins"] == pytest.approx(float((ours.chosen_rewards - ours.rejected_rewards).mean()), abs=1e-5)
        assert metrics["logps/chosen"] == pytest.approx(float(ours.chosen_logps.mean()), abs=1e-4)
    else:  # conservative DPO: TRL's CPO "sigmoid" loss on the policy/reference log-ratios
        trainer = SimpleNamespace(alpha=0.0, beta=beta, label_smoothing=label_smoothing, loss_type="sigmoid", accelerator=_accelerator())
        _, _, chosen2, rejected2, _, _ = _ours(model, batch)
        losses, c_rewards, r_rewards = CPOTrainer.cpo_loss(trainer, chosen2 - ref_chosen, rejected2 - ref_rejected)
        theirs = losses.mean()
        torch.testing.assert_close(c_rewards, ours.chosen_rewards, **TOL)
        torch.testing.assert_close(r_rewards, ours.rejected_rewards, **TOL)
    torch.testing.assert_close(theirs.detach(), ours.losses.mean().detach(), **TOL)
    for a, b in zip(our_grads, _grads(model, theirs)):
        torch.testing.assert_close(a, b, **TOL)
    assert n == 3


def test_simpo_matches_trl_with_the_papers_gamma(setup):
    model, batch = setup
    beta, ratio = 2.0, 0.5
    logits, _, chosen, rejected, c_n, r_n = _ours(model, batch)
    ours = L.simpo(chosen / c_n, rejected / r_n, beta, ratio)
    our_grads = _grads(model, ours.losses.mean())

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    avg = CPOTrainer.get_batch_logps(logits, batch["labels"], average_log_prob=True)
    trainer = SimpleNamespace(alpha=0.0, beta=beta, simpo_gamma=ratio * beta, label_smoothing=0.0, loss_type="simpo", accelerator=_accelerator())
    losses, c_rewards, r_rewards = CPOTrainer.cpo_loss(trainer, *avg.chunk(2))
    torch.testing.assert_close(losses.detach(), ours.losses.detach(), **TOL)
    torch.testing.assert_close(c_rewards, ours.chosen_rewards, **TOL)
    torch.testing.assert_close(r_rewards, ours.rejected_rewards, **TOL)
    for a, b in zip(our_grads, _grads(model, losses.mean())):
        torch.testing.assert_close(a, b, **TOL)


def test_orpo_matches_trl(setup):
    model, batch = setup
    lam = 0.1
    _, tokens, chosen, rejected, c_n, r_n = _ours(model, batch)
    n = chosen.shape[0]
    ours = L.orpo(chosen / c_n, rejected / r_n, lam)
    nll = -tokens[:n].sum() / c_n.sum()
    our_loss = nll + ours.losses.mean()
    our_grads = _grads(model, our_loss)

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"]
    # TRL's NLL (the cross_entropy_loss closure in ORPOTrainer.concatenated_forward) on the chosen rows
    their_nll = nn.CrossEntropyLoss()(logits[:n, :-1].reshape(-1, logits.shape[-1]), labels[:n, 1:].reshape(-1))
    avg = ORPOTrainer.get_batch_logps(logits, labels, average_log_prob=True)
    trainer = SimpleNamespace(beta=lam, accelerator=_accelerator())
    losses, c_rewards, r_rewards, _, log_odds = ORPOTrainer.odds_ratio_loss(trainer, *avg.chunk(2))
    theirs = their_nll - losses.mean()
    torch.testing.assert_close(theirs.detach(), our_loss.detach(), **TOL)
    torch.testing.assert_close(c_rewards, ours.chosen_rewards, **TOL)
    torch.testing.assert_close(r_rewards, ours.rejected_rewards, **TOL)
    assert float(log_odds.detach()) == pytest.approx(float(ours.log_odds.mean()), abs=1e-5)
    for a, b in zip(our_grads, _grads(model, theirs)):
        torch.testing.assert_close(a, b, **TOL)


def test_accuracy_counts_ties_as_half():
    acc = L.accuracy(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))
    assert acc.tolist() == [1.0, 0.0, 0.5]
