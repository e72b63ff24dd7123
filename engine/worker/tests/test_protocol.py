"""protocol.py: every golden line parses, every invalid line is rejected, strictness where it matters."""

from __future__ import annotations

import json

import pytest
from support import GOLDEN, INVALID, golden_config, golden_lines, set_dotted

from whetstone_worker.config import RunConfig
from whetstone_worker.protocol import COMMANDS, EVENTS, Emitter, ProtocolError, parse_message


@pytest.mark.parametrize("line", golden_lines())
def test_golden_line_parses(line):
    message = parse_message(line)
    assert message["v"] == 1
    assert message["type"] in COMMANDS or message["type"] in EVENTS


def test_golden_covers_every_message_type():
    seen = {json.loads(line)["type"] for line in golden_lines()}
    assert seen == set(COMMANDS) | set(EVENTS)


def test_train_command_config_becomes_run_config():
    train = next(parse_message(line) for line in golden_lines() if '"type": "train"' in line)
    assert isinstance(train["config"], RunConfig)
    assert train["config"].training.micro_batch_size == 4


@pytest.mark.parametrize("line", [line for line in INVALID.read_text().splitlines() if line.strip()])
def test_invalid_line_rejected(line):
    with pytest.raises(ProtocolError):
        parse_message(line)


@pytest.mark.parametrize(
    "line, field",
    [
        ('{"v": true, "type": "shutdown", "id": "x"}', "v"),  # a JSON bool is not the number 1
        ('{"type": "shutdown", "id": "x"}', "v"),
        ('{"v": 1, "type": "shutdown", "id": "x", "extra": 1}', "extra"),  # commands are strict
        ('{"v": 1, "type": "shutdown", "id": ""}', "id"),
        ('{"v": 1, "type": "launch", "id": "x"}', "type"),
        ('{"v": 1, "type": "cancel", "id": "c"}', "target"),
        ('{"v": 1, "type": "progress", "id": "j", "phase": "load", "current": NaN, "total": null, "unit": "", "elapsed_s": 0, "eta_s": null, "message": ""}', ""),
        ('{"v": 1, "type": "metrics", "id": "j", "step": 1, "total_steps": 2, "epoch": 0, "loss": 1, "lr": 1, "grad_norm": null, "tokens": 1, "tokens_per_s": 1, "elapsed_s": 1, "eta_s": null, "note": "x"}', "note"),
        ('{"v": 1, "type": "error", "id": null, "code": "lower", "message": "", "hint": "", "recoverable": true}', "code"),
        ("not json", ""),
        ("[1, 2]", ""),
    ],
)
def test_rejections_name_the_field(line, field):
    with pytest.raises(ProtocolError) as info:
        parse_message(line)
    assert info.value.path == field


def test_events_accept_extra_fields():
    line = '{"v": 1, "type": "checkpoint", "id": "j", "step": 3, "path": "/x", "bytes": 10}'
    assert parse_message(line)["bytes"] == 10


def test_generate_validates_prompts():
    bad = {"v": 1, "type": "generate", "id": "g", "model_path": "/m", "tuned_path": None, "tuned_kind": None, "sides": ["base"],
           "prompts": [[]], "max_new_tokens": 8, "temperature": 0, "top_p": 1, "seed": 0, "stream": False}
    with pytest.raises(ProtocolError, match=r"prompts\[0\]"):
        parse_message(json.dumps(bad))


def test_emitter_writes_valid_lines_and_refuses_invalid_events():
    lines: list[str] = []
    emitter = Emitter(lines.append)
    emitter.log(None, "info", "hello ✓")
    assert json.loads(lines[0]) == {"v": 1, "type": "log", "id": None, "level": "info", "message": "hello ✓"}
    with pytest.raises(ProtocolError):
        emitter.emit("log", id=None, level="chatty", message="x")
    with pytest.raises(ValueError):  # NaN never reaches the wire
        emitter.emit("checkpoint", id="j", step=1, path="/x", size=float("nan"))
    assert len(lines) == 1


AUDIT = {"v": 1, "type": "audit", "id": "a", "model_path": "/m", "tuned_path": "/r/outputs/adapter", "tuned_kind": "adapter",
         "data_path": "/r/data/train.jsonl", "samples": 200, "prefix_tokens": 32, "continuation_tokens": 64, "seed": 0,
         "embedding_model": None}


def test_audit_command_parses_as_specified():
    assert parse_message(json.dumps(AUDIT)) == AUDIT
    assert parse_message(json.dumps(AUDIT | {"tuned_kind": "model", "prefix_tokens": 0, "embedding_model": "/e"}))["embedding_model"] == "/e"


@pytest.mark.parametrize("field, value", [
    ("tuned_kind", "lora"), ("samples", 0), ("samples", 2.5), ("prefix_tokens", -1), ("continuation_tokens", 0),
    ("seed", -1), ("embedding_model", ""), ("model_path", ""), ("tuned_path", None), ("data_path", 3),
])
def test_audit_command_rejects_bad_fields(field, value):
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps(AUDIT | {field: value}))
    assert info.value.path == field


@pytest.mark.parametrize("field", ["embedding_model", "seed", "tuned_kind"])
def test_audit_command_fields_are_required_and_strict(field):
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps({k: v for k, v in AUDIT.items() if k != field}))
    assert info.value.path == field
    with pytest.raises(ProtocolError, match="extra"):
        parse_message(json.dumps(AUDIT | {"extra": 1}))


def _accepts(config: dict, **field) -> bool:
    from whetstone_worker.config import parse_run_config
    from whetstone_worker.validate import Invalid

    try:
        parse_run_config(set_dotted(config, **field), "config")
        return True
    except Invalid:
        return False


def test_shared_tables_match_the_worker():
    """tests/fixtures/protocol/tables-v1.json: the lists the engine defines too (its test reads the same file)."""
    from whetstone_worker.config import PREFERENCE_METHODS
    from whetstone_worker.jobs.export.writers import WRITERS
    from whetstone_worker.protocol import EXPORT_DTYPES, EXPORT_FORMATS, GGUF_QUANTIZATIONS

    tables = json.loads((GOLDEN.parent / "tables-v1.json").read_text(encoding="utf-8"))
    assert list(PREFERENCE_METHODS) == tables["preference_methods"]
    from whetstone_worker.losses.methods import METHODS

    rows = {name: {"paired": m.paired, "needs_reference": m.needs_reference, "sft_term": m.sft_term} for name, m in METHODS.items()}
    assert rows == tables["preference_method_rows"]
    assert list(EXPORT_FORMATS) == tables["export_formats"]
    assert list(WRITERS) == tables["export_formats"], "one writer per export format"
    assert list(EXPORT_DTYPES) == tables["export_dtypes"]
    assert list(GGUF_QUANTIZATIONS) == tables["gguf_quantizations"]
    from whetstone_worker.rewards import REWARD_TYPES

    assert list(REWARD_TYPES) == tables["reward_types"]
    # The config's enums, by what the worker accepts (not by reading its source).
    config = golden_config()
    for finetune in tables["finetunes"]:
        assert _accepts(config, finetune=finetune), finetune
    assert not _accepts(config, finetune="prefix")
    for variant in tables["lora_variants"]:
        assert _accepts(config, lora__variant=variant), variant
    assert not _accepts(config, lora__variant="vera")
