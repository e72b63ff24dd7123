"""KTO's part of the preference recipe (method kto, arXiv 2402.01306): its data, its step, its held-out metrics.

Everything else is the preference recipe's (model and reference set-up, init_from, LoRA or full,
checkpoints, resume, NEFTune, the chunked log-probs); PreferenceRecipe calls these three functions
where the pair methods have theirs.

A micro-batch of n rows runs the policy twice: the rows themselves with gradient, and their
mismatched rows (data/unpaired.py) without, for the reference point z₀; the reference (adapter
disabled, or the frozen copy) runs on both. The loss is losses/kto.py's, averaged over the rows of
the optimizer step.

Metrics: rewards/chosen and rewards/rejected are the mean rewards β·(log π − log π_ref) of the rows
labelled desirable and undesirable (TRL's names), kl is z₀, and rewards/accuracy is the share of
rows on their label's side of the reference point (desirable: reward above β·z₀, undesirable: below;
a tie counts ½), which is 50% before training and what examples/tiny-kto.yaml raises on held-out rows.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch

from ..data.batches import IGNORE, collate, make_plan
from ..data.unpaired import Labelled, build_unpaired
from ..losses import kto as K
from ..neftune import token_scales
from . import common


def load_data(r) -> None:
    data, train = r.cfg.data, r.cfg.training
    common.progress(r, "data", 0, None, "rows", f"Tokenizing labelled rows from {data.train}")
    r.rows, report = build_unpaired(r.tokenizer, Path(data.train), data.max_length, data.overlong,
                                    lambda done, total: common.progress(r, "data", done, total, "rows", f"Tokenizing {data.train}"))
    r.pairs = []
    r.plan = make_plan(len(r.rows), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps, train.seed)
    good = sum(row.desirable for row in r.rows)
    dropped = sum(report.dropped.values())
    common.progress(r, "data", report.read, report.read, "rows",
                    f"Tokenized {report.read} rows ({dropped} dropped): {good} desirable, {len(r.rows) - good} undesirable; "
                    f"micro-batches of {train.micro_batch_size} rows", eta=0)
    for reason, n in sorted(report.dropped.items()):
        common.log(r, "warning", f"{n} rows dropped: {reason.replace('_', ' ')} (max_length {data.max_length})")
    pref = r.pref
    if good and len(r.rows) > good:
        balance = pref.desirable_weight * good / (pref.undesirable_weight * (len(r.rows) - good))
        if not 1 <= balance <= 4 / 3:
            common.log(r, "warning", f"desirable_weight·n_desirable / (undesirable_weight·n_undesirable) is {balance:.2f}; "
                                     "the KTO paper keeps it between 1 and 4/3 (set the preference weights to balance the counts)")
    if train.packing:
        common.log(r, "info", "training.packing does not apply to kto: each row is padded")
    r.val_rows = []
    if data.validation:
        r.val_rows, _ = build_unpaired(r.tokenizer, Path(data.validation), data.max_length, data.overlong)
        common.log(r, "info", f"Validation: {len(r.val_rows)} held-out rows; their accuracy is measured at every checkpoint")


def samples(r) -> list:
    return [s for row in r.rows for s in (row.sample, row.kl)]


@torch.no_grad()
def _reference(r, batch: dict[str, torch.Tensor], kl_batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probs of the rows and of their mismatched rows under the reference."""
    ctx = r.model.disable_adapter() if r.reference is None and r.cfg.finetune == "lora" else contextlib.nullcontext()
    model = r.reference if r.reference is not None else r.model
    with ctx, r.neftune.paused(), common.autocast(r):
        return (r._token_logps(model, r.ref_head, batch).sum(-1), r._token_logps(model, r.ref_head, kl_batch).sum(-1))


def _loss(r, rows: list[Labelled], train: bool) -> tuple[K.UnpairedLoss, int, int]:
    """(loss parts, tokens through the policy, trained tokens) of one micro-batch."""
    batch = r._to_device(collate([row.sample for row in rows], r.pad_id))
    kl_batch = r._to_device(collate([row.kl for row in rows], r.pad_id))
    alpha = r.cfg.training.neftune_alpha if train else 0
    scales = token_scales(batch["lengths"], r.embed_dim, alpha) if alpha > 0 else None
    with r.neftune.noise(scales), common.autocast(r), (r.speed.offload() if train else contextlib.nullcontext()):
        logps = r._token_logps(r.model, r.head, batch).sum(-1)
    with torch.no_grad(), r.neftune.paused(), common.autocast(r):
        kl_logps = r._token_logps(r.model, r.head, kl_batch).sum(-1)
    ref, ref_kl = _reference(r, batch, kl_batch)
    desirable = torch.tensor([row.desirable for row in rows], device=logps.device)
    pref = r.pref
    out = K.kto(logps, ref, desirable, K.reference_point(kl_logps, ref_kl), pref.beta, pref.desirable_weight, pref.undesirable_weight)
    tokens = int(batch["attention_mask"].sum()) + int(kl_batch["attention_mask"].sum())
    return out, tokens, int((batch["labels"][:, 1:] != IGNORE).sum())


def micro_loss(r, rows: list[Labelled], n_rows: int) -> torch.Tensor:
    """One training micro-batch's loss, scaled for a step of n_rows rows (preflight measures this)."""
    with common.guard(r, "forward"):
        return _loss(r, rows, train=True)[0].losses.sum() / n_rows


def train_step(r) -> None:
    plan, s = r.plan, r.step
    micro = [plan.micro_batch(g) for g in plan.step_micro(s)]
    n_rows = sum(len(indices) for indices in micro)
    lr = common.set_lr(r)
    parts, loss_sum, step_tokens, trained = [], 0.0, 0, 0
    for indices in micro:
        rows = [r.rows[i] for i in indices]
        with common.guard(r, "forward"):
            out, tokens, n_trained = _loss(r, rows, train=True)
            loss = out.losses.sum() / n_rows
        step_tokens, trained = step_tokens + tokens, trained + n_trained
        value = loss.detach().item()
        if not math.isfinite(value):
            _raise_non_finite(r, f"The loss became {value}", indices)
        with common.guard(r, "backward"):
            (r.scaler.scale(loss) if r.scaler else loss).backward()
        loss_sum += value
        parts.append(out)
    grad_norm = common.optimizer_step(r, lambda what: _raise_non_finite(r, what, [i for indices in micro for i in indices]))
    common.count_step(r, step_tokens, trained, 0, loss_sum)
    efficiency = step_tokens / (2 * n_rows * r.cfg.data.max_length)
    extra = evaluate(r) if r.val_rows and common.checkpoint_due(r) else {}
    common.emit_metrics(r, lr, grad_norm, efficiency, **stats(parts), **extra)


@torch.no_grad()
def evaluate(r) -> dict[str, float]:
    """Held-out rows: mean loss and accuracy (see the module doc); eval mode, file order, no RNG."""
    r.model.eval()
    size, parts = r.cfg.training.micro_batch_size, []
    try:
        for i in range(0, len(r.val_rows), size):
            with common.guard(r, "eval"):
                parts.append(_loss(r, r.val_rows[i : i + size], train=False)[0])
    finally:
        r.model.train()
    out = stats(parts)
    return {"val_loss": float(torch.cat([p.losses.float().cpu() for p in parts]).mean()),
            "val_rewards/accuracy": out["rewards/accuracy"], "val_rewards/margin": out["rewards/margin"]}


def stats(parts: list[K.UnpairedLoss]) -> dict[str, float]:
    """Means over the rows of a step (or of the held-out set); a side with no rows reports nothing."""
    rewards = torch.cat([p.rewards.float().cpu() for p in parts])
    desirable = torch.cat([p.desirable.cpu() for p in parts])
    threshold = torch.cat([torch.full((len(p.rewards),), float(p.kl) * p.beta) for p in parts])
    side = torch.where(desirable, rewards - threshold, threshold - rewards)
    out = {"rewards/accuracy": float(((side > 0).float() + 0.5 * (side == 0).float()).mean()),
           "kl": float(torch.stack([p.kl.float().cpu() for p in parts]).mean())}
    if desirable.any():
        out["rewards/chosen"] = float(rewards[desirable].mean())
    if (~desirable).any():
        out["rewards/rejected"] = float(rewards[~desirable].mean())
    out["rewards/margin"] = out.get("rewards/chosen", 0.0) - out.get("rewards/rejected", 0.0)
    return out


def _raise_non_finite(r, what: str, indices: list[int]) -> None:
    raise common.non_finite_error(r, what, [r.rows[i].line for i in indices], "training.learning_rate (2–10×) or preference.beta")
