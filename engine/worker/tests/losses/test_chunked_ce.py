"""The chunked loss is the plain loss: same value, same gradients, IGNORE labels respected."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from whetstone_worker.data.chat import IGNORE
from whetstone_worker.losses.chunked_ce import head_for_chunked_loss, linear_cross_entropy, linear_token_logps, lm_loss_sum
from whetstone_worker.losses.preference import token_logps


def _problem(bias: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, 37, 16, generator=g, dtype=torch.float64, requires_grad=True)
    head = torch.nn.Linear(16, 101, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.randn(101, 16, generator=g))
        if bias:
            head.bias.copy_(torch.randn(101, generator=g))
    labels = torch.randint(0, 101, (3, 37), generator=g)
    labels[torch.rand(3, 37, generator=g) < 0.4] = IGNORE  # prompt tokens, goldfish drops, padding
    return hidden, head, labels


def _grads(loss, hidden, head):
    params = [hidden, head.weight] + ([head.bias] if head.bias is not None else [])
    return torch.autograd.grad(loss, params)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_same_loss_and_gradients_as_full_logits(bias, chunk):
    hidden, head, labels = _problem(bias)
    plain = F.cross_entropy(head(hidden).flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="sum")
    chunked = linear_cross_entropy(hidden, head, labels, chunk=chunk)
    assert chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, plain, rtol=1e-6, atol=1e-5)
    for a, b in zip(_grads(chunked * 0.37, hidden, head), _grads(plain * 0.37, hidden, head)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_per_token_log_probs_match_full_logits_under_per_token_weights(bias, chunk):
    # Preference losses weigh each token's log-prob differently (chosen vs rejected, per-row means):
    # random upstream weights per position check the per-row backward, bias and head weight included.
    hidden, head, labels = _problem(bias)
    shifted = torch.cat([torch.full_like(labels[:, :1], IGNORE), labels], dim=1)  # token_logps shifts by one itself
    plain = token_logps(torch.cat([head(hidden), head(hidden[:, :1])], dim=1), shifted)
    chunked = linear_token_logps(hidden, head, labels, chunk=chunk)
    assert chunked.dtype == torch.float32 and chunked.shape == labels.shape
    assert (chunked[labels == IGNORE] == 0).all() and (chunked[labels != IGNORE] < 0).all()
    torch.testing.assert_close(chunked, plain, rtol=1e-6, atol=1e-6)
    weights = torch.randn(labels.shape, generator=torch.Generator().manual_seed(1))
    for a, b in zip(_grads((chunked * weights).sum(), hidden, head), _grads((plain * weights).sum(), hidden, head)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(linear_token_logps(hidden, head, labels, chunk=chunk), chunked.detach())


def test_ignored_positions_get_no_gradient_and_a_wrong_mask_is_seen():
    hidden, head, labels = _problem(False)
    grad_h = _grads(linear_cross_entropy(hidden, head, labels), hidden, head)[0]
    assert (grad_h[labels == IGNORE] == 0).all() and (grad_h[labels != IGNORE] != 0).any()
    # The comparison can fail: dropping one more token (a goldfish mask applied twice, say) changes the loss.
    fewer = labels.clone()
    first = (labels != IGNORE).nonzero()[0]
    fewer[tuple(first)] = IGNORE
    assert not torch.allclose(linear_cross_entropy(hidden, head, fewer), linear_cross_entropy(hidden, head, labels))


def test_no_grad_and_all_ignored():
    hidden, head, labels = _problem(False)
    with torch.no_grad():
        value = linear_cross_entropy(hidden, head, labels)
    assert value.requires_grad is False and value > 0
    empty = linear_cross_entropy(hidden, head, torch.full_like(labels, IGNORE))
    assert float(empty.detach()) == 0.0
    assert _grads(empty, hidden, head)[0].abs().sum() == 0


def test_tiny_model_with_lora_matches_the_plain_path(tiny_model):
    from whetstone_worker import modeling
    from whetstone_worker.config import LoraConfig

    torch.manual_seed(0)
    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu"))
    model = modeling.apply_lora(model, LoraConfig(r=4, alpha=8, dropout=0.0, target_modules="all-linear"))
    with torch.no_grad():  # LoRA B starts at zero; make the adapters matter
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    head, why = head_for_chunked_loss(model)
    assert head is not None, why
    ids = torch.randint(4, 1000, (2, 24))
    labels = ids.clone()
    labels[:, :9] = IGNORE
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    plain = lm_loss_sum(model, inputs, labels, head=None)
    g_plain = torch.autograd.grad(plain, trainable)
    chunked = lm_loss_sum(model, inputs, labels, head=head)
    g_chunked = torch.autograd.grad(chunked, trainable)
    torch.testing.assert_close(chunked, plain, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_chunked, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_heads_that_are_not_plain_fall_back_with_a_reason(tiny_model):
    from whetstone_worker import modeling
    from whetstone_worker.config import LoraConfig

    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu"))
    model = modeling.apply_lora(model, LoraConfig(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "lm_head")))
    head, why = head_for_chunked_loss(model)
    assert head is None and "not a plain Linear" in why
