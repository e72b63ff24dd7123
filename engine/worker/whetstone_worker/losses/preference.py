"""Preference losses on (chosen, rejected) pairs: DPO, SimPO and ORPO, as pure functions of log-probs.

Each takes per-pair sequence log-probabilities of the response tokens (sums and token counts) and
returns per-pair losses and the implicit rewards the method optimises; the recipe averages over the
pairs of an optimizer step. Definitions (and the reference code our tests compare against):

    DPO   L = −log σ(β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])
          sums over response tokens; reward = β·(log π − log π_ref). label_smoothing ε > 0 gives
          conservative DPO: −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ)   (TRL: DPOTrainer._compute_loss,
          loss_type "sigmoid"; the ε form is TRL's CPO "sigmoid" loss applied to the log-ratios).
    SimPO L = −log σ(β·(mean log π(y_w) − mean log π(y_l)) − γ),  γ = gamma_beta_ratio·β;
          no reference; reward = β·mean log π  (TRL: CPOTrainer.cpo_loss, loss_type "simpo",
          simpo_gamma = γ, cpo_alpha = 0; TRL's defaults are not the paper's, ours are).
    ORPO  L = NLL(y_w) − λ·log σ(log odds(y_w) − log odds(y_l)),  odds(y) = p/(1−p), p = exp(mean
          log π(y)); reward = λ·mean log π  (TRL: ORPOTrainer.odds_ratio_loss, whose `beta` is our λ).

The ORPO NLL term is computed by the recipe (it is the SFT loss on the chosen responses, goldfish
included); `orpo` here returns the odds-ratio part only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.chat import IGNORE


@dataclass
class PairLoss:
    losses: torch.Tensor  # per pair, to be averaged
    chosen_rewards: torch.Tensor  # detached
    rejected_rewards: torch.Tensor  # detached
    chosen_logps: torch.Tensor  # the log-probs the method uses (sum for DPO, per-token mean otherwise), detached
    rejected_logps: torch.Tensor
    log_odds: torch.Tensor | None = None  # ORPO only, detached


def token_logps(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(label_t | tokens before t) for every position (0 where the label is IGNORE), float32.

    logits: (rows, T, vocab) from the model, labels: (rows, T) aligned with the input ids; the
    result is (rows, T−1) for targets 1..T−1. Cross-entropy with reduction="none" avoids
    materialising a second vocab-sized log-softmax tensor."""
    targets = labels[:, 1:]
    flat = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE, reduction="none")
    return -flat.view(targets.shape)


def dpo(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
        beta: float, label_smoothing: float = 0.0) -> PairLoss:
    """chosen/rejected: summed log-probs of the policy; ref_*: the same under the reference."""
    chosen_ratio, rejected_ratio = chosen - ref_chosen, rejected - ref_rejected
    logits = beta * (chosen_ratio - rejected_ratio)
    losses = -F.logsigmoid(logits)
    if label_smoothing > 0:
        losses = (1 - label_smoothing) * losses - label_smoothing * F.logsigmoid(-logits)
    return PairLoss(losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach(), chosen.detach(), rejected.detach())


def simpo(chosen_mean: torch.Tensor, rejected_mean: torch.Tensor, beta: float, gamma_beta_ratio: float) -> PairLoss:
    """chosen_mean/rejected_mean: per-token mean log-probs of the policy (length-normalised)."""
    losses = -F.logsigmoid(beta * (chosen_mean - rejected_mean - gamma_beta_ratio))
    return PairLoss(losses, beta * chosen_mean.detach(), beta * rejected_mean.detach(), chosen_mean.detach(), rejected_mean.detach())


def orpo(chosen_mean: torch.Tensor, rejected_mean: torch.Tensor, lam: float) -> PairLoss:
    """The odds-ratio term, λ·(−log σ(log odds ratio)); the recipe adds the NLL of the chosen responses."""
    chosen_mean, rejected_mean = chosen_mean.float(), rejected_mean.float()
    # log(1 − p) from log p without cancellation: log(−expm1(x)) near 0, log1p(−exp(x)) far below it.
    log_odds = (chosen_mean - rejected_mean) - (_log1mexp(chosen_mean) - _log1mexp(rejected_mean))
    losses = -lam * F.logsigmoid(log_odds)
    return PairLoss(losses, lam * chosen_mean.detach(), lam * rejected_mean.detach(), chosen_mean.detach(),
                    rejected_mean.detach(), log_odds.detach())


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(x)) for x < 0 (Mächler 2012), the same split TRL's log1mexp uses."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def accuracy(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """Per pair: 1 when the chosen reward is higher, 0 when lower, ½ on a tie.

    TRL counts a tie as 0; at the start of a LoRA DPO run every pair ties (policy = reference), and
    ½ reads as the chance level it is rather than as "always wrong"."""
    return (chosen_rewards > rejected_rewards).float() + 0.5 * (chosen_rewards == rejected_rewards).float()
