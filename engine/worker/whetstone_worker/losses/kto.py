"""KTO (arXiv 2402.01306) on unpaired rows labelled desirable or undesirable, as a pure function of log-probs.

    z₀ = max(0, mean over the batch's mismatched rows of (log π(y'|x) − log π_ref(y'|x)))   (detached)
    r  = log π(y|x) − log π_ref(y|x)          summed over the response tokens
    L  = λ_D · (1 − σ(β·(r − z₀)))   for a desirable row
         λ_U · (1 − σ(β·(z₀ − r)))   for an undesirable row
    loss = mean over the rows of the batch (desirable and undesirable together); reward = β·r

z₀ is the paper's reference point: a biased but cheap estimate of KL(π‖π_ref) from completions
paired with prompts they were not written for (the recipe builds them by shifting the completions
of a micro-batch by one). It carries no gradient, as in TRL's KTOTrainer (`kl` detached, clamped at
0). λ_D/λ_U (desirable_weight, undesirable_weight) balance unequal counts: the paper's advice is
λ_D·n_D / (λ_U·n_U) in [1, 4/3]. TRL's KTOTrainer._compute_loss is the test oracle
(tests/losses/test_kto_loss.py runs it on the same logits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class UnpairedLoss:
    losses: torch.Tensor  # per row, weighted; the step's loss is their mean
    rewards: torch.Tensor  # β·(log π − log π_ref) per row, detached
    desirable: torch.Tensor  # bool per row
    kl: torch.Tensor  # the reference point z₀ (a 0-d tensor, detached)
    beta: float


def reference_point(kl_logps: torch.Tensor, ref_kl_logps: torch.Tensor) -> torch.Tensor:
    """z₀ from the mismatched rows' summed log-probs under the policy and the reference."""
    return (kl_logps - ref_kl_logps).mean().detach().clamp(min=0)


def kto(logps: torch.Tensor, ref_logps: torch.Tensor, desirable: torch.Tensor, kl: torch.Tensor, beta: float,
        desirable_weight: float = 1.0, undesirable_weight: float = 1.0) -> UnpairedLoss:
    """logps/ref_logps: summed response log-probs per row; desirable: bool per row; kl: reference_point()."""
    ratio = logps - ref_logps
    sign = torch.where(desirable, 1.0, -1.0).to(ratio.dtype)
    weight = torch.where(desirable, desirable_weight, undesirable_weight).to(ratio.dtype)
    losses = weight * (1 - F.sigmoid(beta * (ratio - kl) * sign))
    return UnpairedLoss(losses, beta * ratio.detach(), desirable, kl, beta)
