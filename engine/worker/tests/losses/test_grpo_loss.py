"""losses/grpo.py against TRL's GRPOTrainer._compute_loss, run unbound on the same per-token log-probs: loss,
gradients, KL and clip fractions agree within 1e-5 for GRPO, Dr. GRPO and BNPO, with and without the KL
term, on- and off-policy (issue #20). Group advantages against TRL's own nanstd and the paper's formula."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from whetstone_worker.losses import grpo as G

grpo_trainer = pytest.importorskip("trl.trainer.grpo_trainer")
trl_utils = pytest.importorskip("trl.trainer.utils")

N, T = 6, 7  # completions, completion tokens


class _Accelerator:
    device = torch.device("cpu")
    num_processes = 1
    sync_gradients = True

    @staticmethod
    def gather(x):
        return x

    gather_for_metrics = gather

    @staticmethod
    def reduce(x, reduction="sum"):
        return x


def _trl(logps, old_logps, ref_logps, advantages, mask, *, beta, eps_low, eps_high, loss_type, max_len):
    """TRL's own loss code on a stand-in trainer whose model yields the given per-token log-probs."""
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=_Accelerator(), beta=beta, loss_type=loss_type,
        epsilon_low=eps_low, epsilon_high=eps_high, importance_sampling_level="token", top_entropy_quantile=1.0,
        off_policy_mask_threshold=None, use_vllm=False, vllm_importance_sampling_correction=False,
        current_gradient_accumulation_steps=1, max_completion_length=max_len, aux_loss_enabled=False,
        _entropy_bonus_enabled=False, args=SimpleNamespace(use_bias_correction_kl=False, delta=None),
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logps, torch.zeros_like(logps), None)
    inputs = {
        "prompt_ids": torch.zeros(N, 2, dtype=torch.long), "prompt_mask": torch.ones(N, 2, dtype=torch.long),
        "completion_ids": torch.zeros(N, T, dtype=torch.long), "completion_mask": mask,
        "advantages": advantages, "old_per_token_logps": old_logps, "num_items_in_batch": mask.sum(),
    }
    if beta != 0.0:
        inputs["ref_per_token_logps"] = ref_logps
    loss = grpo_trainer.GRPOTrainer._compute_loss(trainer, None, inputs)
    return loss, trainer._metrics["train"]


def _batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    logps = -torch.rand(N, T, generator=g, dtype=torch.float64) * 3
    old = logps + 0.3 * torch.randn(N, T, generator=g, dtype=torch.float64)  # a policy a few updates older
    ref = logps + 0.5 * torch.randn(N, T, generator=g, dtype=torch.float64)
    advantages = torch.randn(N, generator=g, dtype=torch.float64)
    mask = torch.ones(N, T, dtype=torch.long)
    mask[1, 4:] = 0  # completions of uneven lengths
    mask[3, 2:] = 0
    return logps, old, ref, advantages, mask


@pytest.mark.parametrize("loss_type", G.LOSS_TYPES)
@pytest.mark.parametrize("beta, eps_high, off_policy", [(0.0, None, False), (0.04, None, True), (0.1, 0.28, True)])
def test_grpo_loss_equals_trl(loss_type, beta, eps_high, off_policy):
    logps, old, ref, advantages, mask = _batch(seed=int(beta * 100) + (7 if off_policy else 0))
    old_logps = old if off_policy else None
    eps_high_trl = 0.2 if eps_high is None else eps_high
    ours_in = logps.clone().requires_grad_(True)
    trl_in = logps.clone().requires_grad_(True)

    trl_loss, metrics = _trl(trl_in, old_logps, ref, advantages, mask, beta=beta, eps_low=0.2, eps_high=eps_high_trl,
                             loss_type=loss_type, max_len=T)
    out = G.grpo_loss(ours_in, old_logps, advantages, mask, ref_logps=ref, beta=beta, epsilon_low=0.2,
                      epsilon_high=eps_high, loss_type=loss_type, max_completion_length=T)

    assert out.loss.item() == pytest.approx(trl_loss.item(), abs=1e-5)
    out.loss.backward()
    trl_loss.backward()
    assert torch.allclose(ours_in.grad, trl_in.grad, atol=1e-5)
    assert ours_in.grad[mask == 0].abs().max().item() == 0.0  # padding gets no gradient
    if beta:
        assert out.kl.item() == pytest.approx(metrics["kl"][-1], abs=1e-5)
    else:
        assert out.kl is None
    assert out.clipped_low.item() == pytest.approx(metrics["clip_ratio/low_mean"][-1], abs=1e-5)
    assert out.clipped_high.item() == pytest.approx(metrics["clip_ratio/high_mean"][-1], abs=1e-5)
    assert out.clipped.item() == pytest.approx(metrics["clip_ratio/region_mean"][-1], abs=1e-5)
    if off_policy:  # the test must exercise the clip, or it proves nothing about it
        assert out.clipped.item() > 0


def test_on_policy_loss_is_the_policy_gradient():
    """π_old = π_θ: the ratio is 1, so the loss is −mean(Â) and its gradient is −Â/|o_i| per token (grpo)."""
    logps, _, _, advantages, mask = _batch(seed=3)
    x = logps.clone().requires_grad_(True)
    out = G.grpo_loss(x, None, advantages, mask, loss_type="grpo")
    assert out.loss.item() == pytest.approx(-advantages.mean().item(), abs=1e-12)
    out.loss.backward()
    expected = -(advantages.unsqueeze(1) / mask.sum(-1, keepdim=True)) * mask / N
    assert torch.allclose(x.grad, expected.to(x.dtype), atol=1e-12)


def test_group_advantages_match_the_paper_and_trl_nanstd():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.0, 2.0, float("nan"), 1.0])
    adv = G.group_advantages(rewards, group_size=4, scale_rewards="group")
    for g in range(3):
        r = rewards[4 * g: 4 * g + 4]
        keep = ~torch.isnan(r)
        mean, std = r[keep].mean(), trl_utils.nanstd(r)
        expected = torch.where(keep, (r - mean) / (std + 1e-4), torch.zeros_like(r))
        assert torch.allclose(adv.advantages[4 * g: 4 * g + 4], expected, atol=1e-6)
    assert adv.std_is_zero.tolist() == [False] * 4 + [True] * 4 + [False] * 4
    assert adv.advantages[4:8].abs().max().item() == 0.0  # equal rewards: nothing to learn
    assert adv.advantages[10].item() == 0.0  # unscorable completion: no advantage
    # Dr. GRPO: centred, not scaled.
    dr = G.group_advantages(rewards, group_size=4, scale_rewards="none")
    assert torch.allclose(dr.advantages[:4], torch.tensor([0.5, -0.5, -0.5, 0.5]))
    # batch: one std over every reward.
    batch = G.group_advantages(rewards, group_size=4, scale_rewards="batch")
    assert torch.allclose(batch.advantages[:4], (rewards[:4] - 0.5) / (trl_utils.nanstd(rewards) + 1e-4), atol=1e-6)


def test_bad_arguments_say_what_is_allowed():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        G.grpo_loss(torch.zeros(1, 1), None, torch.zeros(1), torch.ones(1, 1), loss_type="ppo")
    with pytest.raises(ValueError, match="reference"):
        G.grpo_loss(torch.zeros(1, 1), None, torch.zeros(1), torch.ones(1, 1), beta=0.1)
    with pytest.raises(ValueError, match="groups of 4"):
        G.group_advantages(torch.zeros(6), group_size=4)


def test_the_configs_literals_are_the_losses():
    from whetstone_worker import config, rewards

    assert config.GRPO_LOSS_TYPES == G.LOSS_TYPES and config.GRPO_SCALE_REWARDS == G.SCALE_REWARDS
    assert config.REWARD_TYPES == rewards.REWARD_TYPES
