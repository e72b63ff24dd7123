"""config.py: the golden config parses into dataclasses; unknown, missing and ill-typed fields are named."""

from __future__ import annotations

import dataclasses

import pytest
from support import golden_config, set_dotted

from whetstone_worker.config import RunConfig, diff, parse_run_config
from whetstone_worker.validate import Invalid


def test_golden_config_parses_and_round_trips():
    raw = golden_config()
    config = parse_run_config(raw)
    assert isinstance(config, RunConfig)
    assert config.lora.target_modules == "all-linear"
    assert config.training.max_steps is None
    assert config.as_dict() == raw
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.training.seed = 1


def test_target_module_list_is_kept():
    config = parse_run_config(set_dotted(golden_config(), lora__target_modules=["q_proj", "v_proj"]))
    assert config.lora.target_modules == ("q_proj", "v_proj")
    assert config.as_dict()["lora"]["target_modules"] == ["q_proj", "v_proj"]


def test_schema_sections_match_the_typescript_schema():
    # The field lists of schema.ts, by section; a field added there must be added here too.
    raw = golden_config()
    for section in ("model", "data", "lora", "training"):
        fields = dataclasses.fields(type(getattr(parse_run_config(raw), section)))
        # Fields the engine may leave out (added later, optional there too: training.devices) need not be in the golden config.
        required = {f.name for f in fields if not f.metadata.get("absent")}
        assert required <= set(raw[section]) <= {f.name for f in fields}, section


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda c: c["training"].update(warmup_steps=3), "config.training.warmup_steps"),
        (lambda c: c.update(extra=True), "config.extra"),
        (lambda c: c["training"].pop("seed"), "config.training.seed"),
        (lambda c: c.pop("lora"), "config.lora"),
        (lambda c: c.pop("name"), "config.name"),
        (lambda c: c["training"].update(micro_batch_size=2.5), "config.training.micro_batch_size"),
        (lambda c: c["training"].update(learning_rate=2), "config.training.learning_rate"),
        (lambda c: c["training"].update(keep_checkpoints=1), "config.training.keep_checkpoints"),
        (lambda c: c["training"].update(gradient_checkpointing=1), "config.training.gradient_checkpointing"),
        (lambda c: c["data"].update(overlong="skip"), "config.data.overlong"),
        (lambda c: c["lora"].update(target_modules=[]), "config.lora.target_modules"),
        (lambda c: c["model"].update(path=""), "config.model.path"),
        (lambda c: c.update(model="x"), "config.model"),
    ],
)
def test_bad_config_names_the_field(mutate, field):
    raw = golden_config()
    mutate(raw)
    with pytest.raises(Invalid) as info:
        parse_run_config(raw)
    assert info.value.path == field
    assert str(info.value).startswith(field)


def test_diff_lists_changed_leaves():
    old = golden_config()
    new = set_dotted(old, training__learning_rate=0.002, data__max_length=512)
    assert diff(old, new) == [("data.max_length", 256, 512), ("training.learning_rate", 0.001, 0.002)]


