"""The preference methods as rows of one table: what each loss needs from the recipe, and the loss.

The preference recipe reads the run's row instead of branching on the method's name: whether it
builds (or precomputes) a reference, whether log-probs are summed or averaged over the response
tokens, whether the chosen responses' NLL is added (and goldfish applies to it). A new pair method
is a row here and a loss in preference.py, plus its row in the engine's engine/config/methods.ts and in
tests/fixtures/protocol/tables-v1.json, which both sides' tests check (config.py's PREFERENCE_METHODS,
the methods with a preference block, derives from this table).

Pair methods' `loss(chosen, rejected, reference, pref)` takes the policy's per-pair log-probs
(sums, or per-token means when length-normalised), the reference's summed (chosen, rejected)
log-probs (None when the method needs none) and the run's preference section. KTO's rows are
unpaired (labelled desirable or undesirable), so its `loss(logps, ref_logps, desirable, kl, pref)`
has its own shape and the recipe its own step (recipes/kto.py); grpo's rows are prompts whose
completions it samples (recipes/grpo.py), `loss(logps, old_logps, advantages, mask, ref_logps, pref)`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


def _losses(name: str):
    """The loss module, imported at the first loss: the table is read by config.py, which must not import torch."""
    return importlib.import_module(f".{name}", __package__)


@dataclass(frozen=True)
class Method:
    paired: bool  # (prompt, chosen, rejected) pairs; False: unpaired rows labelled desirable or undesirable
    needs_reference: bool  # compares the policy with the reference (the initial weights)
    length_normalised: bool  # per-token mean log-probs instead of sums over the response
    sft_term: bool  # adds the NLL of the chosen responses (goldfish applies to this term only)
    loss: Callable[..., Any]


METHODS: dict[str, Method] = {
    "dpo": Method(paired=True, needs_reference=True, length_normalised=False, sft_term=False,
                  loss=lambda chosen, rejected, ref, pref: _losses("preference").dpo(chosen, rejected, *ref, pref.beta, pref.label_smoothing)),
    "simpo": Method(paired=True, needs_reference=False, length_normalised=True, sft_term=False,
                    loss=lambda chosen, rejected, ref, pref: _losses("preference").simpo(chosen, rejected, pref.beta, pref.gamma_beta_ratio)),
    "orpo": Method(paired=True, needs_reference=False, length_normalised=True, sft_term=True,
                   loss=lambda chosen, rejected, ref, pref: _losses("preference").orpo(chosen, rejected, pref.lambda_)),
    "kto": Method(paired=False, needs_reference=True, length_normalised=False, sft_term=False,
                  loss=lambda logps, ref, desirable, kl, pref: _losses("kto").kto(logps, ref, desirable, kl, pref.beta, pref.desirable_weight,
                                                                      pref.undesirable_weight)),
    # grpo samples its own completions of prompt rows (recipes/grpo.py); its reference (the KL term) runs only
    # when β > 0, which the recipe decides from the run's settings.
    "grpo": Method(paired=False, needs_reference=True, length_normalised=False, sft_term=False,
                   loss=lambda logps, old, advantages, mask, ref, pref: _losses("grpo").grpo_loss(
                       logps, old, advantages, mask, ref_logps=ref, beta=pref.beta, epsilon_low=pref.epsilon,
                       epsilon_high=pref.epsilon_high, loss_type=pref.loss_type, max_completion_length=pref.max_completion_tokens)),
}
