"""Preference tuning on (prompt, chosen, rejected) pairs: DPO, SimPO, ORPO, and any pair method that
is a row of losses/methods.py. The methods differ only in the row (reference or not, summed or
length-normalised log-probs, an SFT term) and the loss (losses/preference.py); this recipe reads the
row and never branches on the method's name. KTO, on unpaired rows labelled good or bad, is a recipe
of its own (kto.py) sharing the policy component (policy.py); run() picks by the row.

    setup: [resume: checkpoint, its config wins] → seed → tokenizer → pairs → policy and reference
           (policy.py) → optimizer → [fresh: precomputed reference, initial held-out metrics]
           → [resume: restore]
    train: per optimizer step: micro-batches of n pairs as one padded batch of 2n rows (chosen
           first) → response-token log-probs → method loss → AdamW → metrics → checkpoints
    save:  outputs/adapter or outputs/model, atomically → done (chained from an adapter: one adapter
           holding the parent's update and this run's, on model.path; see chain.py)

The loop around the step (optimizer, schedule, checkpoints, resume, events) is loop.py's; this file
holds the pairs' data, loss and metrics. A method with an SFT term (ORPO) adds the NLL of the chosen
responses, from the same per-token log-probs; goldfish applies to that term only.

A reference that the row asks for can be precomputed (preference.precompute_reference, full
fine-tuning's memory saver): log-probs computed once before the first step and stored in every
checkpoint (so resume never recomputes them from trained weights). Precomputing costs one extra
forward pass over the data and saves one per step.

Packing does not apply: a pair's two rows must stay aligned, so batches are padded.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import torch

from .. import distributed
from ..config import RunConfig
from ..data.batches import IGNORE, make_plan
from ..data.pairs import Pair, build_pairs, collate_pairs
from ..losses import preference as L
from ..losses.goldfish import goldfish_drop_mask
from ..losses.methods import METHODS
from ..neftune import token_scales
from ..protocol import Emitter
from . import kto
from .loop import Loop, Step
from .policy import Policy, initial_eval, load, synthetic_samples


def run(job_id: str, run_dir: str, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool], resume: bool) -> None:
    recipe = recipe_for(job_id, Path(run_dir), config, emitter, cancelled)
    recipe.loop.run(recipe, resume)


def recipe_for(job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
    """The recipe of the run's preference method: pairs (this file), unpaired rows (kto.py) or prompts (grpo.py)."""
    if config.method == "grpo":
        from .grpo import GRPORecipe

        return GRPORecipe(job_id, run_dir, config, emitter, cancelled)
    method = METHODS.get(config.method)
    recipe = PreferenceRecipe if method is None or method.paired else kto.KTORecipe
    return recipe(job_id, run_dir, config, emitter, cancelled)


class PreferenceRecipe:
    distributed = True  # trains on several ranks (distributed.py): each forwards its share of a step's micro-batches
    knobs = "training.learning_rate (2–10×) or preference.beta"

    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        self.loop = Loop(job_id, run_dir, config, emitter, cancelled)
        self.ref_logps: dict[str, torch.Tensor] = {}  # "train"/"val": (pairs, 2) precomputed reference log-probs
        self.initial_eval: dict[str, float] | None = None
        self.pairs: list[Pair] = []
        self.val_pairs: list[Pair] = []

    @property
    def cfg(self) -> RunConfig:
        return self.loop.cfg

    @property
    def method(self):
        """The run's row of the methods table (losses/methods.py)."""
        return METHODS[self.cfg.method]

    @property
    def label(self) -> str:
        return f" ({self.cfg.method})"

    @property
    def pref(self):
        return self.cfg.preference

    @property
    def precomputed(self) -> bool:
        """The reference's log-probs are computed once and stored, instead of a reference model each step."""
        return self.method.needs_reference and bool(self.pref.precompute_reference)

    # ---------------------------------------------------------------- setup

    def setup(self, checkpoint: Path | None) -> bool:
        if not load(self, checkpoint):
            return False
        if checkpoint is None:
            if self.precomputed:
                self._precompute_reference()
            self.initial_eval = initial_eval(self)
        return True

    def load_data(self) -> None:
        data, train, loop = self.cfg.data, self.cfg.training, self.loop
        loop.progress("data", 0, None, "pairs", f"Tokenizing pairs from {data.train}")
        self.pairs, report = build_pairs(loop.tokenizer, Path(data.train), data.max_length, data.overlong,
                                         lambda done, total: loop.progress("data", done, total, "pairs", f"Tokenizing {data.train}"))
        self.plan = make_plan(len(self.pairs), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps, train.seed)
        dropped = sum(report.dropped.values())
        loop.progress("data", report.read, report.read, "pairs",
                      f"Tokenized {report.read} pairs ({dropped} dropped); micro-batches of {train.micro_batch_size} pairs "
                      f"({2 * train.micro_batch_size} padded rows, chosen and rejected in one forward pass)", eta=0)
        for reason, n in sorted(report.dropped.items()):
            loop.log("warning", f"{n} pairs dropped: {reason.replace('_', ' ')} (max_length {data.max_length})")
        if train.packing:
            loop.log("info", "training.packing does not apply to preference methods: each pair is padded, its two rows side by side")
        if train.goldfish is not None and not self.method.sft_term:
            loop.log("warning", f"training.goldfish applies to ORPO's SFT term only; {self.cfg.method} ignores it")
        if data.validation:
            self.val_pairs, _ = build_pairs(loop.tokenizer, Path(data.validation), data.max_length, data.overlong)
            loop.log("info", f"Validation: {len(self.val_pairs)} held-out pairs; preference accuracy is measured at every checkpoint")

    def load_model(self, checkpoint: Path | None) -> None:
        """The policy and its reference (policy.py) and the optimizer, for the pairs loaded so far (preflight: none)."""
        self.policy = Policy(self.loop, self.method)
        self.policy.build(checkpoint, (s for p in self.pairs for s in (p.chosen, p.rejected)), self.precomputed)
        self.model = self.policy.model

    # ---------------------------------------------------------------- reference

    def _reference_pass(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(n, 2) summed response log-probs of the reference."""
        return torch.stack(self.policy.reference_sums(batch)[0].chunk(2), dim=1)

    def _precompute_reference(self) -> None:
        size, loop = self.cfg.training.micro_batch_size, self.loop
        for split, pairs in (("train", self.pairs), ("val", self.val_pairs)):
            out, start = [], time.monotonic()
            for i in range(0, len(pairs), size):
                out.append(self._reference_pass(self.policy.to_device(collate_pairs(pairs[i : i + size], loop.pad_id))).cpu())
                done = min(i + size, len(pairs))
                eta = (time.monotonic() - start) / done * (len(pairs) - done)
                loop.progress("reference", done, len(pairs), "pairs", f"Reference log-probs ({split})", eta=round(eta, 3))
            self.ref_logps[split] = torch.cat(out) if out else torch.zeros(0, 2)

    def _reference(self, split: str, indices: list[int], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ref = self.ref_logps[split][indices].to(self.loop.device) if split in self.ref_logps else self._reference_pass(batch)
        return ref[:, 0], ref[:, 1]

    # ---------------------------------------------------------------- loss

    def pair_loss(self, batch: dict[str, torch.Tensor], split: str, indices: list[int], nll_keep: torch.Tensor | None):
        """(PairLoss, NLL sum over kept chosen tokens or None, their count) for one micro-batch of
        `indices` into the `split` ("train"/"val") pairs, collated and on the device."""
        n, method = len(indices), self.method
        tokens = self.policy.policy_logps(batch)
        sums, counts = tokens.sum(-1), (batch["labels"][:, 1:] != IGNORE).sum(-1)
        chosen, rejected = sums[:n], sums[n:]
        if method.length_normalised:
            chosen, rejected = chosen / counts[:n], rejected / counts[n:]
        reference = self._reference(split, indices, batch) if method.needs_reference else None
        out = method.loss(chosen, rejected, reference, self.pref)
        if not method.sft_term:
            return out, None, 0
        keep = batch["labels"][:n, 1:] != IGNORE if nll_keep is None else nll_keep
        return out, -(tokens[:n] * keep).sum(), int(keep.sum())

    def _goldfish_keep(self, indices: list[int], epoch: int, width: int) -> tuple[torch.Tensor | None, int]:
        """The SFT term's kept chosen targets (n, width−1) and tokens dropped with goldfish, else (None, 0)."""
        cfg = self.cfg.training.goldfish
        if cfg is None or not self.method.sft_term:
            return None, 0
        keep = torch.zeros(len(indices), width, dtype=torch.bool)
        for row, i in enumerate(indices):
            s = self.pairs[i].chosen
            drop = goldfish_drop_mask(s.ids, cfg, seed=self.cfg.training.seed, sample=i, epoch=epoch).numpy()
            keep[row, : len(s.ids)] = torch.from_numpy(s.trained & ~drop)
        kept = keep[:, 1:]
        trained = sum(self.pairs[i].chosen.n_trained for i in indices)
        return kept.to(self.loop.device), trained - int(kept.sum())

    def _micro_loss(self, batch: dict[str, torch.Tensor], indices: list[int], keep: torch.Tensor | None, n_pairs: int, nll_tokens: int,
                    noise: bool = True):
        """(PairLoss, NLL sum or None, loss scaled for the step) of one training micro-batch: the policy
        forward on its 2n rows, the reference as configured, the method's loss (preflight measures this too).
        `noise` False: no NEFTune (a padding pass, which must draw no random numbers)."""
        loop, alpha = self.loop, self.cfg.training.neftune_alpha
        scales = token_scales(batch["lengths"], loop.embed_dim, alpha) if alpha > 0 and noise else None
        with loop.guard("forward"), loop.autocast(), loop.neftune.noise(scales):
            out, nll, _ = self.pair_loss(batch, "train", indices, keep)
            return out, nll, out.losses.sum() / n_pairs + (nll / max(nll_tokens, 1) if nll is not None else 0.0)

    def probe_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """The loss of one micro-batch of n synthetic pairs of full rows (rows 0..n-1 of `ids` chosen,
        n..2n-1 rejected), scaled as a step's; preflight measures its memory. A precomputed reference
        is zeros here, as the run holds it once computed."""
        n, length = ids.shape[0] // 2, ids.shape[1]
        samples = synthetic_samples(ids)
        batch = self.policy.to_device(collate_pairs([Pair(samples[i], samples[n + i], 0) for i in range(n)], 0))
        if self.precomputed:
            self.ref_logps["train"] = torch.zeros(n, 2)
        return self._micro_loss(batch, list(range(n)), None, n, n * (length - 1))[2]

    # ---------------------------------------------------------------- train

    def train_step(self) -> Step:
        loop, plan = self.loop, self.plan
        micro = [(plan.micro_batch(g), plan.position(g)[0]) for g in plan.step_micro(loop.state.step)]
        n_pairs = sum(len(indices) for indices, _ in micro)
        batches, keeps, dropped = [], [], 0
        for indices, epoch in micro:
            batches.append(self.policy.to_device(collate_pairs([self.pairs[i] for i in indices], loop.pad_id)))
            keep, d = self._goldfish_keep(indices, epoch, batches[-1]["input_ids"].shape[1])
            keeps.append(keep)
            dropped += d
        nll_tokens = sum(int(k.sum()) if k is not None else int((b["labels"][: len(i), 1:] != IGNORE).sum())
                         for k, b, (i, _) in zip(keeps, batches, micro)) if self.method.sft_term else 0
        parts, loss_sum, nll_sum = [], 0.0, 0.0
        world = distributed.current()
        for ((indices, _), batch, keep), counts in loop.my_share(list(zip(micro, batches, keeps))):  # this rank's micro-batches
            out, nll, loss = self._micro_loss(batch, indices, keep, n_pairs, nll_tokens, noise=counts)
            loop.backward(loss, counts)
            if not counts:  # a sharded model's padding pass (loop.my_share): not part of the step
                continue
            value = loss.detach().item()
            if not math.isfinite(value):
                raise loop.non_finite_error(f"The loss became {value}", [self.pairs[i].line for i in indices], self.knobs)
            loss_sum += value
            nll_sum += nll.detach().item() if nll is not None else 0.0
            parts.append(out)
        if world is not None:  # the step's figures: every rank's share
            loss_sum, nll_sum = distributed.sum_all(loss_sum), distributed.sum_all(nll_sum)
            parts = distributed.gather([L.PairLoss(**{f.name: _cpu(getattr(p, f.name)) for f in dataclasses.fields(p)}) for p in parts])
        step_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        trained = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches) - dropped
        stats = _pair_stats(parts)
        if self.method.sft_term:
            stats["nll_loss"] = nll_sum / max(nll_tokens, 1)
        efficiency = step_tokens / (2 * n_pairs * self.cfg.data.max_length)
        lines = [self.pairs[i].line for indices, _ in micro for i in indices]
        return Step(loss_sum, step_tokens, trained, dropped, efficiency, lines, stats)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out pairs: mean loss, reward accuracy and margin; eval mode (no NEFTune, no dropout),
        every response token (no goldfish), file order, no RNG, so exact resume holds."""
        if not self.val_pairs:
            return {}
        loop, model = self.loop, self.model
        model.eval()
        size, parts, total, nll, nll_tokens = self.cfg.training.micro_batch_size, [], 0.0, 0.0, 0
        try:
            for i in range(0, len(self.val_pairs), size):
                indices = list(range(i, min(i + size, len(self.val_pairs))))
                batch = self.policy.to_device(collate_pairs([self.val_pairs[j] for j in indices], loop.pad_id))
                with loop.guard("eval"), loop.autocast():
                    out, nll_part, count = self.pair_loss(batch, "val", indices, None)
                total += float(out.losses.sum())
                nll += float(nll_part) if nll_part is not None else 0.0
                nll_tokens += count
                parts.append(out)
        finally:
            model.train()
        stats = _pair_stats(parts)
        return {"val_loss": total / len(self.val_pairs) + nll / max(nll_tokens, 1),
                "val_rewards/accuracy": stats["rewards/accuracy"], "val_rewards/margin": stats["rewards/margin"]}

    # ---------------------------------------------------------------- checkpoints and output

    def save_extra(self, folder: Path) -> None:
        if self.ref_logps:
            torch.save(self.ref_logps, folder / "reference_logps.pt")

    def load_extra(self, folder: Path) -> None:
        if (folder / "reference_logps.pt").is_file():
            self.ref_logps = torch.load(folder / "reference_logps.pt", map_location="cpu", weights_only=True)
        elif self.precomputed:
            raise KeyError("reference_logps.pt")

    def output(self):
        return self.policy.output()


def _cpu(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().cpu()


def _pair_stats(parts: list[L.PairLoss]) -> dict[str, float]:
    """Means over the pairs of a step (or of the held-out set)."""
    cat = lambda name: torch.cat([getattr(p, name).float().cpu() for p in parts])  # noqa: E731
    chosen, rejected = cat("chosen_rewards"), cat("rejected_rewards")
    stats = {
        "rewards/chosen": float(chosen.mean()), "rewards/rejected": float(rejected.mean()),
        "rewards/margin": float((chosen - rejected).mean()), "rewards/accuracy": float(L.accuracy(chosen, rejected).mean()),
        "logps/chosen": float(cat("chosen_logps").mean()), "logps/rejected": float(cat("rejected_logps").mean()),
    }
    if parts and parts[0].log_odds is not None:
        stats["log_odds_ratio"] = float(cat("log_odds").mean())
    return stats
