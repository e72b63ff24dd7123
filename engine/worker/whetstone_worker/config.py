"""The resolved run config as frozen dataclasses, mirroring engine/config/schema.ts field for field.

The TypeScript schema is the single definition (with defaults and help text); the engine validates
and resolves it before the worker sees it. This module is a defence, not a second source of
defaults: every field must be present, unknown fields are rejected, and each error names the dotted
field (`training.learning_rate: must be <= 1`). Each field's validator sits in its metadata, so the
dataclass is the whole schema and `parse_run_config` is a generic walk over it.

Frozen dataclasses make the config safe to share and compare; `as_dict` gives back the JSON shape
stored in every checkpoint, and `diff` lists changed fields for the resume warning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .losses.methods import METHODS
from .rewards import REWARD_TYPES  # one list: the reward builders' own
from .validate import Check, Invalid, array, boolean, enum, integer, literal, nullable, number, string, union

MAX_SAFE_INTEGER = 2**53 - 1
# losses/grpo.py's LOSS_TYPES and SCALE_REWARDS (kept here as literals: this module must not import torch;
# tests/losses/test_grpo_loss.py checks they are equal).
GRPO_LOSS_TYPES = ("grpo", "dr_grpo", "bnpo")
GRPO_SCALE_REWARDS = ("group", "batch", "none")


def _rewards(value: Any, path: str) -> tuple[dict, ...] | None:
    """grpo's reward list: objects with a known `type` (the engine checked each one's fields; rewards.py
    reports a bad one by its position). A tuple keeps the frozen config hashable."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid(path, "expected a list of rewards or null")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid(f"{path}[{i}]", "expected an object")
        if item.get("type") not in REWARD_TYPES:
            raise Invalid(f"{path}[{i}].type", f"must be one of {', '.join(REWARD_TYPES)}")
    return tuple(dict(item) for item in value)
# The rows of the preference methods' table (losses/methods.py); tests/test_protocol.py checks them,
# like the engine's engine/config/methods.ts, against tests/fixtures/protocol/tables-v1.json.
PREFERENCE_METHODS = tuple(METHODS)


def _f(check: Check) -> Any:
    return field(metadata={"check": check})


def _section(cls: type, nullable: bool = False, absent: bool = False) -> Any:
    # nullable: the whole section may be null (an optional feature that is off), as in zod's .nullable().
    # absent: a field added after configs were first stored; a missing one (an older checkpoint) takes the
    # field's default (None for sections).
    return field(metadata={"section": cls, "nullable": nullable, "absent": absent})


def _modules(value: Any, path: str) -> str | tuple[str, ...]:
    # A tuple keeps the frozen config hashable; as_dict turns it back into a list.
    checked = union(literal("all-linear"), array(string(1), min_len=1))(value, path)
    return checked if isinstance(checked, str) else tuple(checked)


@dataclass(frozen=True)
class ModelConfig:
    path: str = _f(string(1))
    dtype: str = _f(enum("auto", "float32", "bfloat16", "float16"))
    trust_remote_code: bool = _f(boolean)


@dataclass(frozen=True)
class DataConfig:
    train: str = _f(string(1))
    validation: str | None = _f(nullable(string(1)))
    validation_split: float = _f(number(0, 0.5))
    max_length: int = _f(integer(16, 1_048_576))
    overlong: str = _f(enum("truncate", "drop", "error"))


@dataclass(frozen=True)
class LoraConfig:
    r: int = _f(integer(1, 4096))
    alpha: float = _f(number(gt=0))
    dropout: float = _f(number(0, 0.9))
    target_modules: str | tuple[str, ...] = _f(_modules)
    # Added after configs were first stored: an older run's config has none and trained plain LoRA.
    variant: str = field(default="lora", metadata={"check": enum("lora", "dora", "rslora"), "absent": True})


@dataclass(frozen=True)
class GoldfishConfig:
    k: int = _f(integer(2, 1024))
    h: int = _f(integer(1, 32))
    variant: str = _f(enum("hashed", "static", "random"))


@dataclass(frozen=True)
class TrainingConfig:
    epochs: float = _f(number(hi=1000, gt=0))
    max_steps: int | None = _f(nullable(integer(1, MAX_SAFE_INTEGER)))
    micro_batch_size: int = _f(integer(1, 4096))
    gradient_accumulation: int = _f(integer(1, 4096))
    learning_rate: float = _f(number(hi=1, gt=0))
    weight_decay: float = _f(number(0, 1))
    adam_beta1: float = _f(number(0, lt=1))
    adam_beta2: float = _f(number(0, lt=1))
    adam_epsilon: float = _f(number(hi=1, gt=0))
    scheduler: str = _f(enum("cosine", "linear", "wsd", "constant"))
    warmup_ratio: float = _f(number(0, 1))
    decay_ratio: float = _f(number(0, 1))
    min_lr_ratio: float = _f(number(0, 1))
    max_grad_norm: float | None = _f(nullable(number(gt=0)))
    seed: int = _f(integer(0, 2**32 - 1))
    precision: str = _f(enum("auto", "bf16", "fp16", "fp32"))
    gradient_checkpointing: bool = _f(boolean)
    neftune_alpha: float = _f(number(0, 100))
    goldfish: GoldfishConfig | None = _section(GoldfishConfig, nullable=True)
    packing: bool = _f(boolean)
    chunked_loss: bool = _f(boolean)
    compile: bool = _f(boolean)
    liger: bool = _f(boolean)
    activation_offload: bool = _f(boolean)
    checkpoint_every: int = _f(integer(1, MAX_SAFE_INTEGER))
    keep_checkpoints: int = _f(integer(2, 1000))
    # How many processes train the run (the engine starts them with torchrun; distributed.py); absent: 1.
    devices: int | str | None = field(default=None, metadata={"check": nullable(union(literal("auto"), integer(1, 64))), "absent": True, "omit_none": True})
    # torch.set_num_threads for the run (a sweep's trials side by side on a CPU split its cores); absent: torch's default.
    threads: int | None = field(default=None, metadata={"check": nullable(integer(1, 1024)), "absent": True, "omit_none": True})


@dataclass(frozen=True)
class PreferenceConfig:
    # Resolved by the engine for the run's method: the fields another method uses are null.
    beta: float | None = _f(nullable(number(0, 100)))  # 0: grpo without its KL term; the engine asks > 0 of the others
    label_smoothing: float | None = _f(nullable(number(0, lt=0.5)))
    gamma_beta_ratio: float | None = _f(nullable(number(0, 10)))
    lambda_: float | None = field(metadata={"check": nullable(number(hi=100, gt=0)), "key": "lambda"})
    precompute_reference: bool | None = _f(nullable(boolean))
    # kto's weights; added after configs were first stored (an older config has none: None).
    desirable_weight: float | None = field(default=None, metadata={"check": nullable(number(hi=100, gt=0)), "absent": True})
    undesirable_weight: float | None = field(default=None, metadata={"check": nullable(number(hi=100, gt=0)), "absent": True})
    # grpo's settings (recipes/grpo.py); added after configs were first stored.
    num_generations: int | None = field(default=None, metadata={"check": nullable(integer(2, 256)), "absent": True})
    max_completion_tokens: int | None = field(default=None, metadata={"check": nullable(integer(1, 1_048_576)), "absent": True})
    temperature: float | None = field(default=None, metadata={"check": nullable(number(hi=10, gt=0)), "absent": True})
    top_p: float | None = field(default=None, metadata={"check": nullable(number(hi=1, gt=0)), "absent": True})
    epsilon: float | None = field(default=None, metadata={"check": nullable(number(hi=1, gt=0)), "absent": True})
    epsilon_high: float | None = field(default=None, metadata={"check": nullable(number(hi=10, gt=0)), "absent": True})
    num_iterations: int | None = field(default=None, metadata={"check": nullable(integer(1, 64)), "absent": True})
    loss_type: str | None = field(default=None, metadata={"check": nullable(enum(*GRPO_LOSS_TYPES)), "absent": True})
    scale_rewards: str | None = field(default=None, metadata={"check": nullable(enum(*GRPO_SCALE_REWARDS)), "absent": True})


@dataclass(frozen=True)
class RunConfig:
    name: str = _f(string(1))
    method: str = _f(enum("sft", *PREFERENCE_METHODS))
    finetune: str = _f(enum("lora", "qlora", "full"))
    model: ModelConfig = _section(ModelConfig)
    data: DataConfig = _section(DataConfig)
    lora: LoraConfig = _section(LoraConfig)
    training: TrainingConfig = _section(TrainingConfig)
    preference: PreferenceConfig | None = _section(PreferenceConfig, nullable=True, absent=True)
    init_from: str | None = field(default=None, metadata={"check": nullable(string(1)), "absent": True})
    rewards: tuple[dict, ...] | None = field(default=None, metadata={"check": _rewards, "absent": True, "omit_none": True})

    def as_dict(self) -> dict:
        return _plain(self)


def _plain(value: Any) -> Any:
    """The JSON shape: dataclasses as dicts (their JSON names), tuples as lists; a field marked omit_none
    (grpo's `rewards`, which the engine sends for grpo runs only) is left out while it is None, so the
    configs of other runs read back exactly as the engine wrote them."""
    if dataclasses.is_dataclass(value):
        return {f.metadata.get("key", f.name): _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get("omit_none") and getattr(value, f.name) is None)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise Invalid(path, f"expected an object, got {type(raw).__name__}")
    known = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}  # "key": a JSON name that is a Python keyword
    unknown = sorted(raw.keys() - known.keys())
    if unknown:
        raise Invalid(f"{path}.{unknown[0]}", "unknown field")
    values = {}
    for name, f in known.items():
        sub = f"{path}.{name}"
        if name not in raw and f.metadata.get("absent"):
            values[f.name] = None if f.default is dataclasses.MISSING else f.default
            continue
        if name not in raw:
            raise Invalid(sub, "missing (the worker expects a fully resolved config)")
        section = f.metadata.get("section")
        if section and raw[name] is None and f.metadata["nullable"]:
            values[f.name] = None
        elif section:
            values[f.name] = _build(section, raw[name], sub)
        else:
            values[f.name] = f.metadata["check"](raw[name], sub)
    return cls(**values)


def parse_run_config(raw: Any, path: str = "config") -> RunConfig:
    """Validate a resolved config dict; raises `Invalid` naming the first bad field."""
    return _build(RunConfig, raw, path)


def diff(old: dict, new: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted field, old value, new value) for every leaf that differs between two config dicts."""
    out = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out
