"""Preference tuning on (prompt, chosen, rejected) pairs: DPO, SimPO, ORPO. The methods differ only
in the loss (losses/preference.py); everything else is this one lean loop. KTO, on unpaired rows
labelled good or bad, shares the set-up, reference and checkpoints and brings its own data, step and
metrics (kto.py).

    setup: [resume: checkpoint, its config wins] → seed → tokenizer → pairs → initial weights
           (model.path, or init_from: a finished SFT run's adapter merged into the base, or its
           model folder) → LoRA or full → [DPO: reference] → optimizer → [resume: restore]
    train: per optimizer step: micro-batches of n pairs as one padded batch of 2n rows (chosen
           first) → response-token log-probs → method loss → AdamW → metrics → checkpoints
    save:  outputs/adapter or outputs/model, atomically → done (chained from an adapter: one adapter
           holding the parent's update and this run's, on model.path; see chain.py)

Response-token log-probs (policy and reference alike) come, with training.chunked_loss (the
default), from the decoder's hidden states: only response positions go through the output head,
in chunks of 1,024 tokens (losses/chunked_ce.py linear_token_logps), so no 2n × T × vocab logits
tensor exists; ORPO's NLL term is the same per-token log-probs. Same values and gradients as the
full-logits path (tests/recipes/test_preference.py), which is used when chunked_loss is
off or the head cannot be chunked (LoRA on lm_head, soft-capped logits), with a warning saying why.

DPO's reference is the initial policy. With LoRA it is the same weights with the adapter disabled,
so no second copy of the model exists (an init_from adapter is merged into the base first, so the
reference is the SFT model, not the raw base). With full fine-tuning it is a frozen copy loaded
from the initial weights, or, with preference.precompute_reference, log-probs computed once before
the first step and stored in every checkpoint (so resume never recomputes them from trained weights).
Precomputing costs one extra forward pass over the data and saves one per step.

Shared with SFT: recipes/common.py (seeding, optimizer and its step, checkpoint state and restore,
metrics, finishing), modeling (loading, LoRA, saving), checkpoint.py (atomic checkpoints, RNG
state), the step-indexed data plan (exact resume), the LR schedule, NEFTune (off unless
training.neftune_alpha > 0, never on the reference pass) and goldfish (ORPO's SFT term only).
Packing does not apply: a pair's two rows must stay aligned, so batches are padded.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Callable

import torch

from .. import modeling
from ..config import PREFERENCE_METHODS, RunConfig
from ..data.batches import IGNORE, make_plan
from ..data.pairs import Pair, build_pairs, collate_pairs
from ..errors import WorkerError
from ..losses import preference as L
from ..losses.chunked_ce import head_for_chunked_loss, hidden_states, linear_token_logps
from ..losses.goldfish import goldfish_drop_mask
from ..neftune import token_scales
from ..protocol import Emitter
from ..speed import StepSpeedups
from . import chain, common, kto

METHODS = PREFERENCE_METHODS  # kto: unpaired rows, its data/step/metrics in kto.py


def run(job_id: str, run_dir: str, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool], resume: bool) -> None:
    PreferenceRecipe(job_id, Path(run_dir), config, emitter, cancelled).run(resume)


def check_config(cfg: RunConfig):
    """The run's resolved preference section, or why this configuration cannot run (the recipe and preflight)."""
    if cfg.method not in METHODS or cfg.preference is None:
        raise WorkerError("CONFIG_INVALID", f"method {cfg.method!r} needs a resolved preference section (got {cfg.preference!r}).",
                          "Start the run through the engine, which fills in each method's defaults.")
    if cfg.finetune == "qlora":
        raise WorkerError("CONFIG_INVALID", f"finetune qlora is not available for {cfg.method} yet.",
                          "Use finetune: lora (same adapters on full-precision base weights) or full.")
    return cfg.preference


class PreferenceRecipe:
    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        common.init_state(self, job_id, run_dir, config, emitter, cancelled)
        self.reference = None  # full fine-tuning DPO without precomputed log-probs: a frozen copy
        self.ref_logps: dict[str, torch.Tensor] = {}  # "train"/"val": (pairs, 2) precomputed reference log-probs
        self.initial_eval: dict[str, float] | None = None
        self.parent_lora: tuple[chain.Parts, int] | None = None  # init_from adapter (scaled factors, rank), LoRA runs
        self.head = self.ref_head = None  # output heads for chunked log-probs (None: full logits)
        self.val_pairs: list[Pair] = []
        self.rows, self.val_rows = [], []  # kto's labelled rows (kto.py)

    # ---------------------------------------------------------------- setup

    def run(self, resume: bool) -> None:
        found = common.resume_point(self) if resume else None
        self.pref = check_config(self.cfg)
        common.begin(self, found)
        self._load_data()
        if self.cancelled():
            return common.finish_cancelled(self)
        self._load_model(found[0] if found else None)
        if found:
            common.restore(self, found[0], self._restore_reference)
        else:
            if self.method == "dpo" and self.pref.precompute_reference:
                self._precompute_reference()
            if self.val_pairs or self.val_rows:
                self.initial_eval = self._evaluate()
                common.log(self, "info", f"Held-out preference accuracy before training: {self.initial_eval['val_rewards/accuracy']:.1%}")
        common.train_loop(self, f" ({self.method})")

    @property
    def method(self) -> str:
        return self.cfg.method

    def _load_data(self) -> None:
        if self.method == "kto":
            return kto.load_data(self)
        data, train = self.cfg.data, self.cfg.training
        common.progress(self, "data", 0, None, "pairs", f"Tokenizing pairs from {data.train}")
        self.pairs, report = build_pairs(self.tokenizer, Path(data.train), data.max_length, data.overlong,
                                         lambda done, total: common.progress(self, "data", done, total, "pairs", f"Tokenizing {data.train}"))
        self.plan = make_plan(len(self.pairs), train.micro_batch_size, train.gradient_accumulation, train.epochs, train.max_steps, train.seed)
        dropped = sum(report.dropped.values())
        common.progress(self, "data", report.read, report.read, "pairs",
                       f"Tokenized {report.read} pairs ({dropped} dropped); micro-batches of {train.micro_batch_size} pairs "
                       f"({2 * train.micro_batch_size} padded rows, chosen and rejected in one forward pass)", eta=0)
        for reason, n in sorted(report.dropped.items()):
            common.log(self, "warning", f"{n} pairs dropped: {reason.replace('_', ' ')} (max_length {data.max_length})")
        if train.packing:
            common.log(self, "info", "training.packing does not apply to preference methods: each pair is padded, its two rows side by side")
        if train.goldfish is not None and self.method != "orpo":
            common.log(self, "warning", f"training.goldfish applies to ORPO's SFT term only; {self.method} ignores it")
        if data.validation:
            self.val_pairs, _ = build_pairs(self.tokenizer, Path(data.validation), data.max_length, data.overlong)
            common.log(self, "info", f"Validation: {len(self.val_pairs)} held-out pairs; preference accuracy is measured at every checkpoint")

    def _initial_weights(self, source: str | Path | None = None):
        """The policy's starting weights: model.path, or init_from (an adapter merged into the base, or a model folder)."""
        cfg = self.cfg
        init = Path(cfg.init_from) if cfg.init_from else None
        with common.guard(self, "load"):
            if source is None and init is not None and (init / "adapter_config.json").is_file():
                from peft import PeftModel

                base = modeling.load_model(cfg.model.path, self.precision.weights, cfg.model.trust_remote_code, self.device)
                try:
                    parent = PeftModel.from_pretrained(base, str(init))
                except (ValueError, KeyError, RuntimeError, OSError) as err:
                    raise WorkerError("MODEL_LOAD_FAILED", f"init_from {init}: the adapter does not fit {cfg.model.path}: {err}",
                                      "Chain from a run that trained on the same base model.") from None
                if cfg.finetune != "full":  # the output adapter will carry the parent's update too (chain.py)
                    self.parent_lora = (chain.lora_parts(parent, f"init_from {init}"), parent.active_peft_config.r)
                return parent.merge_and_unload()
            if source is None and init is not None:
                modeling.check_model_dir(init, "init_from model")
            path = source or init or cfg.model.path
            return modeling.load_model(path, self.precision.weights, cfg.model.trust_remote_code, self.device)

    def _load_model(self, checkpoint: Path | None) -> None:
        cfg = self.cfg
        full = cfg.finetune == "full"
        source = checkpoint / "model" if full and checkpoint else None
        common.progress(self, "load", 1, 2, "step", f"Loading the model from {source or cfg.init_from or cfg.model.path}")
        model = self._initial_weights(source)
        vocab = model.get_input_embeddings().num_embeddings
        for sample in kto.samples(self) if self.method == "kto" else [s for p in self.pairs for s in (p.chosen, p.rejected)]:
            top = int(sample.ids.max())
            if top >= vocab:
                raise WorkerError("DATA_INVALID", f"{cfg.data.train}:{sample.line}: token id {top} is outside the model's {vocab} embeddings.",
                                  "The tokenizer does not belong to this model; use the tokenizer saved with the model.")
        if cfg.training.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if not full:
            model = modeling.apply_lora(model, cfg.lora)
            if self.parent_lora:
                chain.lora_parts(model, "lora")  # refuses, before training, what could not be combined at the end
        model.train()
        self.model = model
        if full and (self.method == "kto" or (self.method == "dpo" and not self.pref.precompute_reference)):
            self.reference = self._initial_weights().eval().requires_grad_(False)
        # SFT's speed and memory switches (Liger, compile, activation offload, pinned batches; speed.py),
        # with their errors where this machine cannot honour them. Its output head is the chunked
        # log-probs' head (None: full logits, with why); the frozen reference copy has a plain head of
        # its own, otherwise the reference is the policy's base.
        self.speed = StepSpeedups(model, cfg.training, self.device, lambda level, message: common.log(self, level, message))
        self.head = self.speed.head
        self.ref_head = head_for_chunked_loss(self.reference)[0] if self.reference is not None and cfg.training.chunked_loss else self.head
        trainable = common.prepare_optimizer(self, model)
        ref = ("reference: " + ("precomputed log-probs" if self.pref.precompute_reference else
                                "a frozen copy" if full else "the same weights, adapter disabled")
               if self.method in ("dpo", "kto") else "no reference model")
        common.progress(self, "load", 2, 2, "step", f"Model ready on {self.device.type} ({self.precision.describe()}): "
                       f"{trainable}; {self.method}, {ref}" + ("; chunked log-probs" if self.head is not None else "")
                       + (f"; {self.speed.switches}" if self.speed.switches else ""))

    def _token_logps(self, model, head, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(rows, T−1) log-probs of the response tokens, 0 elsewhere: chunked through `head`, or from full logits."""
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if head is None:
            return L.token_logps(model(**inputs).logits, batch["labels"])
        return linear_token_logps(hidden_states(model, inputs)[:, :-1], head, batch["labels"][:, 1:])

    def _restore_reference(self, path: Path) -> None:
        if (path / "reference_logps.pt").is_file():
            self.ref_logps = torch.load(path / "reference_logps.pt", map_location="cpu", weights_only=True)
        elif self.method == "dpo" and self.pref.precompute_reference:
            raise KeyError("reference_logps.pt")

    # ---------------------------------------------------------------- reference

    @torch.no_grad()
    def _reference_pass(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(n, 2) summed response log-probs of the reference: adapter disabled, or the frozen copy."""
        ctx = self.model.disable_adapter() if self.reference is None and self.cfg.finetune == "lora" else contextlib.nullcontext()
        model = self.reference if self.reference is not None else self.model
        # The policy's NEFTune block is armed around the whole pair loss; with LoRA the reference runs
        # the same (hooked) embedding module, so the noise is paused here explicitly.
        with ctx, self.neftune.paused(), common.autocast(self):
            sums = self._token_logps(model, self.ref_head, batch).sum(-1)
        return torch.stack(sums.chunk(2), dim=1)

    def _precompute_reference(self) -> None:
        size = self.cfg.training.micro_batch_size
        for split, pairs in (("train", self.pairs), ("val", self.val_pairs)):
            out, start = [], time.monotonic()
            for i in range(0, len(pairs), size):
                out.append(self._reference_pass(self._to_device(collate_pairs(pairs[i : i + size], self.pad_id))).cpu())
                done = min(i + size, len(pairs))
                eta = (time.monotonic() - start) / done * (len(pairs) - done)
                common.progress(self, "reference", done, len(pairs), "pairs", f"Reference log-probs ({split})", eta=round(eta, 3))
            self.ref_logps[split] = torch.cat(out) if out else torch.zeros(0, 2)

    def _reference(self, split: str, indices: list[int], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ref = self.ref_logps[split][indices].to(self.device) if split in self.ref_logps else self._reference_pass(batch)
        return ref[:, 0], ref[:, 1]

    # ---------------------------------------------------------------- loss

    def _pair_loss(self, batch: dict[str, torch.Tensor], split: str, indices: list[int], nll_keep: torch.Tensor | None):
        """(PairLoss, NLL sum over kept chosen tokens or None, their count) for one micro-batch."""
        n, pref = len(indices), self.pref
        with self.speed.offload():  # the policy's saved activations; the reference pass saves none
            tokens = self._token_logps(self.model, self.head, batch)
        sums, counts = tokens.sum(-1), (batch["labels"][:, 1:] != IGNORE).sum(-1)
        chosen, rejected = sums[:n], sums[n:]
        if self.method == "dpo":
            ref_chosen, ref_rejected = self._reference(split, indices, batch)
            return L.dpo(chosen, rejected, ref_chosen, ref_rejected, pref.beta, pref.label_smoothing), None, 0
        chosen_mean, rejected_mean = chosen / counts[:n], rejected / counts[n:]
        if self.method == "simpo":
            return L.simpo(chosen_mean, rejected_mean, pref.beta, pref.gamma_beta_ratio), None, 0
        keep = batch["labels"][:n, 1:] != IGNORE if nll_keep is None else nll_keep
        return L.orpo(chosen_mean, rejected_mean, pref.lambda_), -(tokens[:n] * keep).sum(), int(keep.sum())

    def _goldfish_keep(self, indices: list[int], epoch: int, width: int) -> tuple[torch.Tensor | None, int]:
        """ORPO's SFT term: (kept chosen targets (n, width−1), tokens dropped) with goldfish, else (None, 0)."""
        cfg = self.cfg.training.goldfish
        if cfg is None or self.method != "orpo":
            return None, 0
        keep = torch.zeros(len(indices), width, dtype=torch.bool)
        for row, i in enumerate(indices):
            s = self.pairs[i].chosen
            drop = goldfish_drop_mask(s.ids, cfg, seed=self.cfg.training.seed, sample=i, epoch=epoch).numpy()
            keep[row, : len(s.ids)] = torch.from_numpy(s.trained & ~drop)
        kept = keep[:, 1:]
        trained = sum(self.pairs[i].chosen.n_trained for i in indices)
        return kept.to(self.device), trained - int(kept.sum())

    # ---------------------------------------------------------------- train

    def _train_step(self) -> None:
        if self.method == "kto":
            return kto.train_step(self)
        plan, s = self.plan, self.step
        micro = [(plan.micro_batch(g), plan.position(g)[0]) for g in plan.step_micro(s)]
        n_pairs = sum(len(indices) for indices, _ in micro)
        lr = common.set_lr(self)
        batches, keeps, dropped = [], [], 0
        for indices, epoch in micro:
            batches.append(self._to_device(collate_pairs([self.pairs[i] for i in indices], self.pad_id)))
            keep, d = self._goldfish_keep(indices, epoch, batches[-1]["input_ids"].shape[1])
            keeps.append(keep)
            dropped += d
        nll_tokens = sum(int(k.sum()) if k is not None else int((b["labels"][: len(i), 1:] != IGNORE).sum())
                         for k, b, (i, _) in zip(keeps, batches, micro)) if self.method == "orpo" else 0
        parts, loss_sum, nll_sum = [], 0.0, 0.0
        for (indices, _), batch, keep in zip(micro, batches, keeps):
            out, nll, loss = self._micro_loss(batch, indices, keep, n_pairs, nll_tokens)
            value = loss.detach().item()
            if not math.isfinite(value):
                self._raise_non_finite(f"The loss became {value}", indices)
            with common.guard(self, "backward"):
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            loss_sum += value
            nll_sum += nll.detach().item() if nll is not None else 0.0
            parts.append(out)
        grad_norm = common.optimizer_step(self, lambda what: self._raise_non_finite(what, [i for indices, _ in micro for i in indices]))
        step_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        trained = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches) - dropped
        common.count_step(self, step_tokens, trained, dropped, loss_sum)
        stats = _pair_stats(parts)
        if self.method == "orpo":
            stats["nll_loss"] = nll_sum / max(nll_tokens, 1)
        efficiency = step_tokens / (2 * n_pairs * self.cfg.data.max_length)
        extra = self._evaluate() if self.val_pairs and common.checkpoint_due(self) else {}
        common.emit_metrics(self, lr, grad_norm, efficiency, **stats, **extra)

    def _micro_loss(self, batch: dict[str, torch.Tensor], indices: list[int], keep: torch.Tensor | None, n_pairs: int, nll_tokens: int):
        """(PairLoss, NLL sum or None, loss scaled for the step) of one training micro-batch: the policy
        forward on its 2n rows, the reference as configured, the method's loss (preflight measures this too)."""
        alpha = self.cfg.training.neftune_alpha
        scales = token_scales(batch["lengths"], self.embed_dim, alpha) if alpha > 0 else None
        with common.guard(self, "forward"), common.autocast(self), self.neftune.noise(scales):
            out, nll, _ = self._pair_loss(batch, "train", indices, keep)
            return out, nll, out.losses.sum() / n_pairs + (nll / max(nll_tokens, 1) if nll is not None else 0.0)

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        """Held-out pairs: mean loss, reward accuracy and margin; eval mode (no NEFTune, no dropout),
        every response token (no goldfish), file order, no RNG, so exact resume holds."""
        if self.method == "kto":
            return kto.evaluate(self)
        self.model.eval()
        size, parts, total, nll, nll_tokens = self.cfg.training.micro_batch_size, [], 0.0, 0.0, 0
        try:
            for i in range(0, len(self.val_pairs), size):
                indices = list(range(i, min(i + size, len(self.val_pairs))))
                batch = self._to_device(collate_pairs([self.val_pairs[j] for j in indices], self.pad_id))
                with common.guard(self, "eval"), common.autocast(self):
                    out, nll_part, count = self._pair_loss(batch, "val", indices, None)
                total += float(out.losses.sum())
                nll += float(nll_part) if nll_part is not None else 0.0
                nll_tokens += count
                parts.append(out)
        finally:
            self.model.train()
        stats = _pair_stats(parts)
        return {"val_loss": total / len(self.val_pairs) + nll / max(nll_tokens, 1),
                "val_rewards/accuracy": stats["rewards/accuracy"], "val_rewards/margin": stats["rewards/margin"]}

    def _raise_non_finite(self, what: str, indices: list[int]) -> None:
        raise common.non_finite_error(self, what, [self.pairs[i].line for i in indices], "training.learning_rate (2–10×) or preference.beta")

    # ---------------------------------------------------------------- save / finish

    def _checkpoint(self) -> None:
        def write_reference(folder: Path) -> None:
            if self.ref_logps:
                torch.save(self.ref_logps, folder / "reference_logps.pt")

        common.save_checkpoint(self, False, write_reference)

    def _finish_completed(self) -> None:
        """outputs/adapter of a run chained from an adapter is parent + own update in one adapter on
        model.path (chain.py), so export, evaluation and merge use it like any other adapter."""
        if self.parent_lora is None:
            return common.finish_completed(self)
        parts, rank = self.parent_lora
        combined = chain.combine(parts, rank, chain.lora_parts(self.model, "lora"), self.cfg.lora.r)
        common.finish_completed(self, chain.CombinedAdapter(combined, self.cfg.model.path, self.cfg.lora.dropout))

    # ---------------------------------------------------------------- helpers

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.speed.to_device(batch)  # pinned memory, non-blocking copies on CUDA


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
