"""Shared fixtures: the tiny model (built once, locally), resolved configs, and an in-process runner.

The tiny model is built into $WHETSTONE_FIXTURES_DIR/tiny-llama (default: <repo>/.cache/fixtures,
git-ignored) by whetstone_fixtures.tiny, which skips the build when its stamp is current.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from support import REPO_ROOT, TINY_CHAT, Recorder, golden_config, set_dotted

from whetstone_worker.config import parse_run_config
from whetstone_fixtures import tiny

# One thread: the tiny model gains nothing from more, and on a busy 2-core box OpenMP threads that
# spin-wait for a descheduled sibling made a 3 s test take 100 s. Workers get the same via env.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"


if os.environ.get("WHETSTONE_CPU_LOG"):

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        """`npm test -- --cpu` (scripts/test.mjs): each test's CPU time in this process and its waited-for
        children, added to WHETSTONE_CPU_LOG under its file (forked workers are logged by the fork server)."""
        import json
        import resource

        def cpu(who):
            usage = resource.getrusage(who)
            return usage.ru_utime + usage.ru_stime

        own, children = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
        yield
        row = {"file": "engine/worker/" + item.nodeid.split("::")[0], "python": cpu(resource.RUSAGE_SELF) - own, "children": cpu(resource.RUSAGE_CHILDREN) - children}
        with open(os.environ["WHETSTONE_CPU_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def fixtures_dir() -> Path:
    return Path(os.environ.get("WHETSTONE_FIXTURES_DIR") or REPO_ROOT / ".cache" / "fixtures")


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return tiny.build(fixtures_dir() / "tiny-llama", log=lambda message: None)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    from whetstone_worker.modeling import load_tokenizer

    return load_tokenizer(tiny_model, trust_remote_code=False)


@pytest.fixture
def make_config(tiny_model):
    """A resolved config dict for the tiny model on examples/tiny-chat.jsonl, with overrides."""

    def make(**overrides) -> dict:
        base = set_dotted(golden_config(), model__path=str(tiny_model), data__train=str(TINY_CHAT), data__validation=None)
        return set_dotted(base, **overrides)

    return make


@pytest.fixture
def run_sft():
    """Run the SFT recipe in-process; returns (recorder, recipe) for inspection."""
    from whetstone_worker.recipes.sft import SFTRecipe

    def run(config: dict, run_dir: Path, resume: bool = False, cancelled=lambda: False, recorder: Recorder | None = None):
        recorder = recorder or Recorder()
        recipe = SFTRecipe("job", Path(run_dir), parse_run_config(config), recorder.emitter, cancelled)
        recipe.run(resume)
        return recorder, recipe

    return run


@pytest.fixture(scope="session")
def adapter(tiny_model, tmp_path_factory):
    """A LoRA adapter on the tiny model with non-zero B, so the tuned model answers differently from its base."""
    from peft import LoraConfig, get_peft_model
    from whetstone_worker import modeling

    model = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu"))
    torch.manual_seed(0)  # A's initialization too: the same adapter in every session, whatever ran before
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    out = tmp_path_factory.mktemp("adapter")
    peft.save_pretrained(out)
    return out
