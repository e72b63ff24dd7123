"""GRPO (DeepSeekMath, arXiv 2402.03300) and Dr. GRPO (arXiv 2503.20783) as pure functions of rewards and
per-token log-probs.

For each prompt, G completions o_1..o_G are sampled from the policy as it was when they were generated
(π_old) and scored by the reward functions, r_i. Their advantage is relative to the group:

    Â_i = r_i − mean(r)                          (Dr. GRPO: `scale_rewards="none"`)
    Â_i = (r_i − mean(r)) / (std(r) + 1e-4)      (GRPO: `"group"`; `"batch"` takes std over the whole batch)

the same for every token of o_i (std is the unbiased one; a group whose rewards are all equal teaches
nothing: Â = 0). Per token t of o_i, with ρ = π_θ / π_old:

    ℓ_t = −min(ρ·Â_i, clip(ρ, 1−ε_low, 1+ε_high)·Â_i) + β·KL_t,
    KL_t = π_ref/π_θ − log(π_ref/π_θ) − 1        (k3, unbiased and ≥ 0; only when β > 0)

and the loss averages ℓ over tokens in one of three ways:

    grpo     mean over each completion's tokens, then over completions (the paper; longer wrong
             answers are penalised less per token, the bias Dr. GRPO removes)
    dr_grpo  sum over every token / (number of completions × max completion length)
    bnpo     sum over every token / number of tokens in the batch

With one optimisation step per generation batch (num_iterations = 1), π_old = π_θ and ρ = 1 in value
while its gradient is ∇log π_θ: the policy-gradient estimator. TRL's GRPOTrainer._compute_loss is the
test oracle (tests/losses/test_grpo_loss.py runs it on the same log-probs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOSS_TYPES = ("grpo", "dr_grpo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")


def nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased standard deviation ignoring NaNs (TRL's nanstd): NaN rewards are unscorable completions."""
    keep = dim is not None
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    variance = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = torch.sum(~torch.isnan(x), dim=dim, keepdim=True)
    variance = variance * count / (count - 1)
    out = torch.sqrt(variance)
    return out if keep else out.reshape(())


@dataclass
class Advantages:
    advantages: torch.Tensor  # (B·G,), one per completion
    std_is_zero: torch.Tensor  # (B·G,) bool: its group's rewards were all equal (nothing to learn from it)


def group_advantages(rewards: torch.Tensor, group_size: int, scale_rewards: str = "group") -> Advantages:
    """Advantages of B·G rewards laid out group by group (the G completions of prompt 0, then of prompt 1, …).

    A NaN reward (every reward function abstained) is left out of its group's mean and std and gets
    advantage 0, so it neither moves the baseline nor earns a spurious advantage."""
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, not {scale_rewards!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size != 0:
        raise ValueError(f"expected B·G rewards in groups of {group_size}, got shape {tuple(rewards.shape)}")
    grouped = rewards.view(-1, group_size)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(group_size)
    if scale_rewards == "batch":
        std = nanstd(rewards).expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    else:
        std = nanstd(grouped, dim=1).squeeze(1).repeat_interleave(group_size) if group_size > 1 else torch.zeros_like(rewards)
    advantages = rewards - mean
    if scale_rewards != "none":
        advantages = advantages / (std + 1e-4)
    std_is_zero = torch.isclose(std, torch.zeros_like(std))
    return Advantages(torch.nan_to_num(advantages, nan=0.0), std_is_zero)


@dataclass
class PolicyLoss:
    loss: torch.Tensor  # the step's scalar loss
    kl: torch.Tensor | None  # mean k3 KL over completion tokens (detached); None when β = 0
    clipped_low: torch.Tensor  # fraction of tokens whose ratio was clipped below with Â < 0 (detached)
    clipped_high: torch.Tensor  # … above with Â > 0
    clipped: torch.Tensor  # either


def grpo_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logps: torch.Tensor | None = None,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
) -> PolicyLoss:
    """The clipped policy loss over a batch of completions.

    logps, old_logps, ref_logps: (N, T) per-token log-probs of the completion tokens under the policy
    (with gradient), the sampling policy (None: the policy itself, detached) and the reference;
    advantages: (N,); mask: (N, T), 1 on completion tokens. `max_completion_length` (dr_grpo's
    constant denominator) defaults to T."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, not {loss_type!r}")
    if beta != 0.0 and ref_logps is None:
        raise ValueError("beta > 0 needs the reference model's log-probs")
    epsilon_high = epsilon_low if epsilon_high is None else epsilon_high
    mask = mask.to(logps.dtype)
    adv = advantages.unsqueeze(1)
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp(logps - old)
    clipped_ratio = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.min(ratio * adv, clipped_ratio * adv)
    kl = None
    if beta != 0.0:
        delta = ref_logps - logps
        per_token_kl = torch.exp(delta) - delta - 1
        per_token = per_token + beta * per_token_kl
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (per_token.size(0) * (max_completion_length or per_token.size(1)))
    else:
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)

    tokens = mask.sum().clamp(min=1.0)
    with torch.no_grad():
        if beta != 0.0:
            kl = (per_token_kl * mask).sum() / tokens
        low = ((ratio < 1 - epsilon_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1 + epsilon_high) & (adv > 0)).to(mask.dtype)
        clipped_low = (low * mask).sum() / tokens
        clipped_high = (high * mask).sum() / tokens
        clipped = (((low + high) > 0).to(mask.dtype) * mask).sum() / tokens
    return PolicyLoss(loss, kl, clipped_low, clipped_high, clipped)
