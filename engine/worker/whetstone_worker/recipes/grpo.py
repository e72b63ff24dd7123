"""GRPO with verifiable rewards (DeepSeekMath, arXiv 2402.03300; Dr. GRPO, arXiv 2503.20783): a recipe of
its own, sharing the policy component (policy.py: initial weights, init_from, LoRA or full, the
reference, chunked log-probs) and the loop (loop.py: optimizer, checkpoints, resume, events).

One generation round takes the prompts of micro_batch_size × gradient_accumulation rows (the data
plan's micro-batches, as every recipe), samples `num_generations` completions of each from the policy
(jobs/generate.py's sampler: temperature, top_p, stop at end of turn), scores them with the run's
rewards (rewards.py) and turns the scores into group-relative advantages (losses/grpo.py). The
round is then trained on for `num_iterations` optimizer steps: the first step's ratio to the
sampling policy is 1 (the policy gradient), later steps use the log-probs recorded at sampling and
the clip bounds the update. Each micro-batch's completions run through the policy (with gradient)
and, when β > 0, the reference (adapter disabled, or the frozen copy); the loss is the clipped
policy loss plus β·KL, averaged over the round's micro-batches.

Sampling seeds are a function of (seed, round, row, completion), and a round's completions and
old log-probs are saved with each checkpoint, so a resumed run samples and trains exactly what the
uninterrupted one did.

Metrics per step: reward (mean of the combined reward) and reward_std (within groups, averaged),
reward/<name> per reward, completion_length, kl (β > 0), clip_ratio, and frac_reward_zero_std (the
share of groups whose completions all scored alike, which teach nothing). Every SAMPLE_EVERY rounds the
first prompt's completions and their rewards are logged and appended to the run's samples.jsonl.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import rewards as R
from ..config import RunConfig
from ..data.batches import IGNORE, collate, make_plan
from ..data.chat import Sample
from ..data.prompts import PromptRow, build_prompts
from ..jobs.generate import decode_batch, stop_token_ids
from ..losses import grpo as G
from ..losses.methods import METHODS
from ..protocol import Emitter
from ..runfiles import append_lines
from .loop import Loop, Step
from .policy import Policy, load, synthetic_samples

SAMPLE_EVERY = 10  # rounds between logged sample completions
SAMPLES_FILE = "samples.jsonl"  # in the run folder: the logged completions, for the run's page


@dataclasses.dataclass
class Round:
    """One generation round: its micro-batches of completions, ready to train on."""

    index: int
    batches: list[dict]  # per micro-batch: samples, advantages, old log-probs (μ > 1), and its lines
    stats: dict[str, float]


class GRPORecipe:
    knobs = "training.learning_rate or preference.beta"
    label = " (grpo)"

    def __init__(self, job_id: str, run_dir: Path, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool]):
        self.loop = Loop(job_id, run_dir, config, emitter, cancelled)
        self.rows: list[PromptRow] = []
        self.round: Round | None = None

    @property
    def cfg(self) -> RunConfig:
        return self.loop.cfg

    # ---------------------------------------------------------------- setup

    def setup(self, checkpoint: Path | None) -> bool:
        self.rewards = R.build(self.cfg.rewards or [])
        return load(self, checkpoint)

    def load_data(self) -> None:
        data, train, pref, loop = self.cfg.data, self.cfg.training, self.cfg.preference, self.loop
        loop.progress("data", 0, None, "rows", f"Tokenizing prompts from {data.train}")
        self.rows, report = build_prompts(loop.tokenizer, Path(data.train), data.max_length, pref.max_completion_tokens, data.overlong,
                                          lambda done, total: loop.progress("data", done, total, "rows", f"Tokenizing {data.train}"))
        # The plan counts generation rounds; each is trained on num_iterations times.
        iterations = pref.num_iterations
        rounds = make_plan(len(self.rows), train.micro_batch_size, train.gradient_accumulation, train.epochs,
                           math.ceil(train.max_steps / iterations) if train.max_steps else None, train.seed)
        total = train.max_steps or rounds.total_steps * iterations
        self.rounds = rounds
        self.plan = _StepPlan(rounds, pref.num_iterations, total)
        dropped = sum(report.dropped.values())
        loop.progress("data", report.read, report.read, "rows",
                      f"Tokenized {report.read} prompts ({dropped} dropped); {train.micro_batch_size} prompts × "
                      f"{pref.num_generations} completions per micro-batch", eta=0)
        for reason, n in sorted(report.dropped.items()):
            loop.log("warning", f"{n} prompts dropped: {reason.replace('_', ' ')} (max_length {data.max_length} minus "
                                f"{pref.max_completion_tokens} completion tokens)")
        if train.packing:
            loop.log("info", "training.packing does not apply to grpo: completions are padded per micro-batch")
        if data.validation:
            loop.log("info", "data.validation is not used by grpo yet: the rewards of each round are its measure")

    def load_model(self, checkpoint: Path | None) -> None:
        method = dataclasses.replace(METHODS["grpo"], needs_reference=self.cfg.preference.beta > 0)
        self.policy = Policy(self.loop, method)
        self.policy.build(checkpoint, (Sample(row.ids, np.zeros(len(row.ids), bool), row.line) for row in self.rows), precomputed=False)
        self.model = self.policy.model
        self.stops: set[int] | None = None  # end-of-turn token ids (read at the first round: preflight has no tokenizer)

    # ---------------------------------------------------------------- a generation round

    def _round(self, index: int) -> Round:
        loop, pref, plan = self.loop, self.cfg.preference, self.rounds
        micro = [plan.micro_batch(g) for g in plan.step_micro(index)]
        batches, rewards_all, per_reward_all, lengths, zero_std = [], [], [], [], []
        for m, indices in enumerate(micro):
            rows = [self.rows[i] for i in indices]
            samples, texts = self._sample(rows, index, m)
            group_rows = [row for row in rows for _ in range(pref.num_generations)]
            per_reward, total = R.score_all(self.rewards, [r.text for r in group_rows], texts, [r.fields for r in group_rows])
            rewards = torch.tensor(total, dtype=torch.float32)
            adv = G.group_advantages(rewards, pref.num_generations, pref.scale_rewards)
            batch = {"samples": samples, "advantages": adv.advantages, "lines": [r.line for r in rows]}
            if pref.num_iterations > 1:
                with torch.no_grad(), loop.neftune.paused(), loop.autocast():
                    batch["old"] = self.policy.token_logps(self.model, self.policy.head, self.policy.to_device(collate(samples, loop.pad_id))).detach().cpu()
            batches.append(batch)
            rewards_all.append(rewards)
            per_reward_all.append(torch.tensor(per_reward, dtype=torch.float32))
            lengths += [int(s.trained.sum()) for s in samples]
            zero_std.append(adv.std_is_zero.view(-1, pref.num_generations)[:, 0])
            if m == 0 and index % SAMPLE_EVERY == 0:
                self._record_samples(index, rows[0], texts[: pref.num_generations], total, per_reward)
        rewards = torch.cat(rewards_all)
        groups = rewards.view(-1, pref.num_generations)
        stats = {"reward": _nanmean(rewards), "reward_std": _nanmean(torch.nan_to_num(G.nanstd(groups, dim=1), nan=0.0)),
                 "completion_length": float(np.mean(lengths)), "frac_reward_zero_std": float(torch.cat(zero_std).float().mean())}
        per_reward = torch.cat(per_reward_all, dim=1)
        for k, reward in enumerate(self.rewards):
            stats[f"reward/{reward.name}"] = _nanmean(per_reward[k])
        return Round(index, batches, stats)

    def _record_samples(self, index: int, row: PromptRow, texts: list[str], total: list[float], per_reward: list[list[float]]) -> None:
        """The first prompt's completions of a round with their rewards: a log line, and a line of the run's
        samples.jsonl, which the run's page shows (a resumed run writes its round again; readers keep the last)."""
        shown = " | ".join(f"{r:+.2f}: {t[:60]!r}" for r, t in zip(total, texts))
        self.loop.log("info", f"Round {index + 1}, line {row.line}: {shown}")
        finite = lambda x: None if math.isnan(x) else round(float(x), 4)  # noqa: E731: JSON has no NaN (an abstained reward)
        record = {"round": index + 1, "step": index * self.cfg.preference.num_iterations + 1, "line": row.line, "prompt": row.text,
                  "completions": [{"text": t, "reward": finite(total[i]),
                                   "rewards": {r.name: finite(per_reward[k][i]) for k, r in enumerate(self.rewards)}} for i, t in enumerate(texts)]}
        self.loop.run_dir.mkdir(parents=True, exist_ok=True)
        append_lines(self.loop.run_dir / SAMPLES_FILE, [json.dumps(record, ensure_ascii=False)])

    def _sample(self, rows: list[PromptRow], index: int, micro: int) -> tuple[list[Sample], list[str]]:
        """num_generations completions per prompt, as training samples (prompt masked, completion and the
        stop token it ended with trained) and their texts."""
        loop, pref, train = self.loop, self.cfg.preference, self.cfg.training
        n = pref.num_generations
        prompts = [row.ids.tolist() for row in rows for _ in range(n)]
        seeds = [hash((train.seed, index, micro, k)) & 0x7FFFFFFF for k in range(len(prompts))]
        if self.stops is None:
            self.stops = set(stop_token_ids(loop.tokenizer, self.model))
        self.model.eval()
        try:
            with loop.guard("generate"), loop.neftune.paused(), loop.autocast():
                out = decode_batch(self.model, prompts, seeds, pref.max_completion_tokens, pref.temperature, pref.top_p, self.stops,
                                   loop.pad_id, keep_stop=True)
        finally:
            self.model.train()
        samples, texts = [], []
        for prompt, row, (completion, reason) in zip(prompts, (r for r in rows for _ in range(n)), out):
            ids = np.asarray(prompt + completion, dtype=np.int32)
            trained = np.zeros(len(ids), dtype=bool)
            trained[len(prompt):] = True
            samples.append(Sample(ids, trained, row.line))
            texts.append(loop.tokenizer.decode(completion[:-1] if reason == "stop" else completion, skip_special_tokens=True))
        return samples, texts

    # ---------------------------------------------------------------- train

    def _loss(self, batch: dict) -> tuple[G.PolicyLoss, int, int]:
        loop, policy, pref = self.loop, self.policy, self.cfg.preference
        inputs = policy.to_device(collate(batch["samples"], loop.pad_id))
        mask = (inputs["labels"][:, 1:] != IGNORE).float()
        with loop.autocast():
            logps = policy.policy_logps(inputs)
        ref = policy.reference_logps(inputs) if pref.beta > 0 else None
        old = batch["old"].to(logps.device) if "old" in batch else None
        out = METHODS["grpo"].loss(logps.float(), old, batch["advantages"].to(logps.device), mask, None if ref is None else ref.float(), pref)
        return out, int(inputs["attention_mask"].sum()), int(mask.sum())

    def probe_loss(self, ids: torch.Tensor) -> torch.Tensor:
        """The loss of one micro-batch of full-length completions (micro_batch_size × num_generations rows of
        `ids`, a one-token prompt each) with alternating advantages; preflight measures its memory."""
        samples = synthetic_samples(ids)
        advantages = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(len(samples))])
        with self.loop.guard("forward"):
            return self._loss({"samples": samples, "advantages": advantages, "lines": [0]})[0].loss

    def train_step(self) -> Step:
        loop, pref = self.loop, self.cfg.preference
        index = loop.state.step // pref.num_iterations
        if self.round is None or self.round.index != index:
            self.round = self._round(index)
        batches = self.round.batches
        loss_sum, tokens, trained, parts = 0.0, 0, 0, []
        for batch in batches:
            with loop.guard("forward"):
                out, n_tokens, n_trained = self._loss(batch)
                loss = out.loss / len(batches)
            value = loss.detach().item()
            if not math.isfinite(value):
                raise loop.non_finite_error(f"The loss became {value}", batch["lines"], self.knobs)
            loop.backward(loss)
            loss_sum, tokens, trained = loss_sum + value, tokens + n_tokens, trained + n_trained
            parts.append(out)
        stats = dict(self.round.stats)
        stats["clip_ratio"] = float(torch.stack([p.clipped for p in parts]).mean())
        if pref.beta > 0:
            stats["kl"] = float(torch.stack([p.kl for p in parts]).mean())
        rows = sum(len(b["samples"]) for b in batches)
        lines = [line for b in batches for line in b["lines"]]
        return Step(loss_sum, tokens, trained, 0, tokens / (rows * self.cfg.data.max_length), lines, stats)

    def evaluate(self) -> dict[str, float]:
        return {}  # held-out rewards need sampling, which would move the RNG: not yet

    # ---------------------------------------------------------------- checkpoints and output

    def save_extra(self, folder: Path) -> None:
        """The round in progress (its completions and old log-probs): a resumed run trains on the same ones."""
        if self.round is not None:
            torch.save({"index": self.round.index, "batches": [{**b, "samples": [(s.ids, s.trained, s.line) for s in b["samples"]]}
                                                                for b in self.round.batches], "stats": self.round.stats},
                       folder / "grpo_round.pt")

    def load_extra(self, folder: Path) -> None:
        path = folder / "grpo_round.pt"
        if not path.is_file():
            return
        saved = torch.load(path, weights_only=False)
        batches = [{**b, "samples": [Sample(ids, trained, line) for ids, trained, line in b["samples"]]} for b in saved["batches"]]
        self.round = Round(saved["index"], batches, saved["stats"])

    def output(self):
        return self.policy.output()


class _StepPlan:
    """The loop's view of the plan: optimizer steps (rounds × num_iterations, or max_steps) over the rounds' plan."""

    def __init__(self, rounds, iterations: int, total_steps: int):
        self.rounds, self.iterations, self.total_steps = rounds, iterations, total_steps
        self.accumulation = rounds.accumulation
        self.total_micro = total_steps * rounds.accumulation  # in optimizer steps' units: step × accumulation

    def epoch_float(self, consumed: int) -> float:
        return self.rounds.epoch_float(consumed // self.iterations)

    def position(self, consumed: int) -> tuple[int, int]:
        return self.rounds.position(consumed // self.iterations)

    def __getattr__(self, name: str):
        return getattr(self.rounds, name)


def _nanmean(x: torch.Tensor) -> float:
    value = float(torch.nanmean(x.float()))
    return value if math.isfinite(value) else 0.0


def run(job_id: str, run_dir: str, config: RunConfig, emitter: Emitter, cancelled: Callable[[], bool], resume: bool = False) -> None:
    recipe = GRPORecipe(job_id, Path(run_dir), config, emitter, cancelled)
    recipe.loop.run(recipe, resume)
