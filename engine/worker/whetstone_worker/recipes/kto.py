"""KTO (arXiv 2402.01306) on unpaired rows labelled desirable or undesirable: a recipe of its own
beside the pairs' (preference.py), sharing the policy component (policy.py: initial weights,
init_from, LoRA or full, the reference, chunked log-probs) and the loop (loop.py: optimizer,
checkpoints, resume, events). The loss is losses/kto.py's, through the methods table's kto row.

A micro-batch of n rows runs the policy twice: the rows themselves with gradient, and their
mismatched rows (data/unpaired.py) without, for the reference point z₀; the reference (adapter
disabled, or the frozen copy) runs on both. The loss is averaged over the rows of the optimizer step.

Metrics: rewards/chosen and rewards/rejected are the mean rewards β·(log π − log π_ref) of the rows
labelled desirable and undesirable (TRL's names), kl is z₀, and rewards/accuracy is the share of
rows on their label's side of the reference point (desirable: reward above β·z₀, undesirable: below;
a tie counts ½), which is 50% before training and what examples/tiny-kto.yaml raises on held-out rows.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Callable

import torch

from ..config import RunConfig
from ..data.batches import IGNORE, collate, make_plan
from ..data.unpaired import Labelled, build_unpaired
from ..losses import kto as K
from ..losses.methods import METHODS
from ..neftune import token_scales
from ..protocol import Emitter
from .loop import Loop, Step
from .policy import Policy, initial_eval, load, synthetic_samples


class KTORecipe:
    knobs = "training.learning_rate (2–10×) or preference.beta"
    label = " (kto)"

    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        self.loop = Loop(job_id, run_dir, config, emitter, cancelled)
        self.initial_eval: dict[str, float] | None = None
        self.rows: list[Labelled] = []
        self.val_rows: list[Labelled] = []

    @property
    def cfg(self) -> RunConfig:
        return self.loop.cfg

    # ---------------------------------------------------------------- setup

    def setup(self, checkpoint: Path | None) -> bool:
        if not load(self, checkpoint):
            return False
        if checkpoint is None:
            self.initial_eval = initial_eval(self)
        return True

    def load_data(self) -> None:
        data, train, loop = self.cfg.data, self.cfg.training, self.loop
        loop.progress("data", 0, None, "rows", f"Tokenizing labelled rows from {data.train}")
        self.rows, report = build_unpaired(loop.tokenizer, Path(data.train), data.max_length, data.overlong,
                                           lambda done, total: loop.progress("data", done, total, "rows", f"Tokenizing {data.train}"))
        self.plan = make_plan(len(self.rows), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps, train.seed)
        good = sum(row.desirable for row in self.rows)
        dropped = sum(report.dropped.values())
        loop.progress("data", report.read, report.read, "rows",
                      f"Tokenized {report.read} rows ({dropped} dropped): {good} desirable, {len(self.rows) - good} undesirable; "
                      f"micro-batches of {train.micro_batch_size} rows", eta=0)
        for reason, n in sorted(report.dropped.items()):
            loop.log("warning", f"{n} rows dropped: {reason.replace('_', ' ')} (max_length {data.max_length})")
        pref = self.cfg.preference
        if good and len(self.rows) > good:
            balance = pref.desirable_weight * good / (pref.undesirable_weight * (len(self.rows) - good))
            if not 1 <= balance <= 4 / 3:
                loop.log("warning", f"desirable_weight·n_desirable / (undesirable_weight·n_undesirable) is {balance:.2f}; "
                                    "the KTO paper keeps it between 1 and 4/3 (set the preference weights to balance the counts)")
        if train.packing:
            loop.log("info", "training.packing does not apply to kto: each row is padded")
        self.val_rows = []
        if data.validation:
            self.val_rows, _ = build_unpaired(loop.tokenizer, Path(data.validation), data.max_length, data.overlong)
            loop.log("info", f"Validation: {len(self.val_rows)} held-out rows; their accuracy is measured at every checkpoint")

    def load_model(self, checkpoint: Path | None) -> None:
        """The policy and its reference (policy.py) and the optimizer, for the rows loaded so far (preflight: none)."""
        self.policy = Policy(self.loop, METHODS["kto"])
        self.policy.build(checkpoint, (s for row in self.rows for s in (row.sample, row.kl)), precomputed=False)
        self.model = self.policy.model

    # ---------------------------------------------------------------- loss

    def _loss(self, rows: list[Labelled], train: bool, pad_id: int) -> tuple[K.UnpairedLoss, int, int]:
        """(loss parts, tokens through the policy, trained tokens) of one micro-batch."""
        loop, policy = self.loop, self.policy
        batch = policy.to_device(collate([row.sample for row in rows], pad_id))
        kl_batch = policy.to_device(collate([row.kl for row in rows], pad_id))
        alpha = self.cfg.training.neftune_alpha if train else 0
        scales = token_scales(batch["lengths"], loop.embed_dim, alpha) if alpha > 0 else None
        with loop.neftune.noise(scales), loop.autocast(), (policy.speed.offload() if train else contextlib.nullcontext()):
            logps = policy.token_logps(self.model, policy.head, batch).sum(-1)
        with torch.no_grad(), loop.neftune.paused(), loop.autocast():
            kl_logps = policy.token_logps(self.model, policy.head, kl_batch).sum(-1)
        ref, ref_kl = policy.reference_sums(batch, kl_batch)
        desirable = torch.tensor([row.desirable for row in rows], device=logps.device)
        out = METHODS["kto"].loss(logps, ref, desirable, K.reference_point(kl_logps, ref_kl), self.cfg.preference)
        tokens = int(batch["attention_mask"].sum()) + int(kl_batch["attention_mask"].sum())
        return out, tokens, int((batch["labels"][:, 1:] != IGNORE).sum())

    def probe_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """The loss of one micro-batch of n synthetic rows of full length (rows n..2n-1 of `ids` as
        their mismatched rows), scaled as a step's; preflight measures its memory."""
        n = ids.shape[0] // 2
        samples = synthetic_samples(ids)
        rows = [Labelled(samples[i], samples[n + i], i % 2 == 0, 0) for i in range(n)]
        with self.loop.guard("forward"):
            return self._loss(rows, train=True, pad_id=0)[0].losses.sum() / n

    # ---------------------------------------------------------------- train

    def train_step(self) -> Step:
        loop, plan = self.loop, self.plan
        micro = [plan.micro_batch(g) for g in plan.step_micro(loop.state.step)]
        n_rows = sum(len(indices) for indices in micro)
        parts, loss_sum, step_tokens, trained = [], 0.0, 0, 0
        for indices in micro:
            rows = [self.rows[i] for i in indices]
            with loop.guard("forward"):
                out, tokens, n_trained = self._loss(rows, True, loop.pad_id)
                loss = out.losses.sum() / n_rows
            step_tokens, trained = step_tokens + tokens, trained + n_trained
            value = loss.detach().item()
            if not math.isfinite(value):
                raise loop.non_finite_error(f"The loss became {value}", [row.line for row in rows], self.knobs)
            loop.backward(loss)
            loss_sum += value
            parts.append(out)
        efficiency = step_tokens / (2 * n_rows * self.cfg.data.max_length)
        lines = [self.rows[i].line for indices in micro for i in indices]
        return Step(loss_sum, step_tokens, trained, 0, efficiency, lines, stats(parts))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out rows: mean loss and accuracy (see the module doc); eval mode, file order, no RNG."""
        if not self.val_rows:
            return {}
        self.model.eval()
        size, parts = self.cfg.training.micro_batch_size, []
        try:
            for i in range(0, len(self.val_rows), size):
                with self.loop.guard("eval"):
                    parts.append(self._loss(self.val_rows[i : i + size], False, self.loop.pad_id)[0])
        finally:
            self.model.train()
        out = stats(parts)
        return {"val_loss": float(torch.cat([p.losses.float().cpu() for p in parts]).mean()),
                "val_rewards/accuracy": out["rewards/accuracy"], "val_rewards/margin": out["rewards/margin"]}

    # ---------------------------------------------------------------- checkpoints and output

    def save_extra(self, folder: Path) -> None:
        pass  # the reference is the initial weights, rebuilt on resume

    def load_extra(self, folder: Path) -> None:
        pass

    def output(self):
        return self.policy.output()


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
