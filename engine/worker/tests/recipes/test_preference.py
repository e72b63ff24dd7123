"""The preference recipe end to end on the tiny model: each method learns a synthetic preference
(held-out accuracy from chance to > 90%), DPO's reference holds no second copy of the weights,
resume equals the uninterrupted run, chaining from an SFT adapter, data of the wrong kind, and the
chunked response log-probs (same loss, rewards and gradients as full logits, one chunk of logits at most)."""

from __future__ import annotations

import functools
import gc
import json
from pathlib import Path

import pytest
import torch
from support import Recorder
from torch.utils._python_dispatch import TorchDispatchMode

from whetstone_worker.config import parse_run_config
from whetstone_worker.errors import WorkerError
from whetstone_worker.data.pairs import collate_pairs
from whetstone_worker.recipes import policy as policy_module
from whetstone_worker.recipes.preference import PreferenceRecipe, recipe_for

PREFERENCE = {
    "dpo": {"beta": 0.1, "label_smoothing": 0, "gamma_beta_ratio": None, "lambda": None, "precompute_reference": False},
    "simpo": {"beta": 2.0, "label_smoothing": None, "gamma_beta_ratio": 0.5, "lambda": None, "precompute_reference": None},
    "orpo": {"beta": None, "label_smoothing": None, "gamma_beta_ratio": None, "lambda": 0.1, "precompute_reference": None},
}
WORDS = ["apple", "river", "candle", "garden", "window", "pencil", "ladder", "cloud", "bridge", "button", "carpet", "forest",
         "hammer", "island", "jacket", "kettle", "lemon", "mirror", "needle", "orange", "pillow", "rocket", "saddle", "tunnel",
         "violin", "wallet", "yogurt", "anchor", "basket", "cactus", "dragon", "engine", "feather", "guitar", "helmet", "igloo"]


def _pairs(words: list[str]) -> str:
    # The rule: the answer is the word the prompt asks for; the rejected answer is the other one. Half
    # the prompts ask for each, so a model that merely favours one word is at chance, as the untrained
    # model is; held-out prompts use unseen nouns.
    rows = []
    for i, w in enumerate(words):
        good, bad = ("yes", "no") if i % 2 == 0 else ("no", "yes")
        rows.append({"prompt": [{"role": "user", "content": f"Reply {good} about the {w}."}],
                     "chosen": [{"role": "assistant", "content": good}], "rejected": [{"role": "assistant", "content": bad}]})
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "train.jsonl").write_text(_pairs(WORDS[:24]))
    (folder / "val.jsonl").write_text(_pairs(WORDS[24:]))
    return folder / "train.jsonl", folder / "val.jsonl"


@pytest.fixture
def pref_config(make_config, pair_files):
    def make(method: str = "dpo", **overrides) -> dict:
        settings = dict(method=method, data__train=str(pair_files[0]), data__validation=str(pair_files[1]),
                        data__max_length=64, training__max_steps=12, training__micro_batch_size=4,
                        training__learning_rate=5e-3, training__warmup_ratio=0.0, training__neftune_alpha=0,
                        training__goldfish=None, training__packing=False, training__checkpoint_every=12)
        config = make_config(**{**settings, **overrides})
        config["preference"] = dict(PREFERENCE[method], **config.get("preference") or {})
        config["init_from"] = config.get("init_from")
        return config

    return make


def run_pref(config: dict, run_dir: Path, resume: bool = False, cancelled=lambda: False):
    recorder = Recorder()
    recipe = recipe_for("job", run_dir, parse_run_config(config), recorder.emitter, cancelled)
    recipe.loop.run(recipe, resume)
    return recorder, recipe


def assert_resume_is_exact(config: dict, tmp_path: Path, keys: tuple[str, ...], after_stop=lambda run_dir: None):
    """A 6-step run (checkpoints every 3) whole, and again stopped at the checkpoint after step 3 and resumed:
    the resumed steps 4–6 equal the whole run's on `keys`. `after_stop(run_dir)` checks the stopped run.
    Returns the whole run's recorder."""
    whole, _ = run_pref(config, tmp_path / "a")
    stopped = tmp_path / "b"
    run_pref(config, stopped, cancelled=lambda: (stopped / "checkpoints" / "step-00000003").exists())
    after_stop(stopped)
    resumed, _ = run_pref(config, stopped, resume=True)
    expected = {m["step"]: m for m in whole.of("metrics")}
    assert [m["step"] for m in resumed.of("metrics")] == [4, 5, 6]
    for m in resumed.of("metrics"):
        for key in keys:
            assert m[key] == pytest.approx(expected[m["step"]][key], rel=1e-6, abs=1e-7), (m["step"], key)
    return whole


@pytest.mark.parametrize("method", ["dpo", "simpo", "orpo"])
def test_held_out_preference_accuracy_rises_from_chance_to_above_90_percent(pref_config, tmp_path, method):
    # ORPO's odds-ratio term gets λ 1: at the paper's 0.1 the NLL of both answers dominates a 12-step run.
    overrides = {"preference": {"lambda": 1.0}, "training__max_steps": 24} if method == "orpo" else {}
    recorder, recipe = run_pref(pref_config(method, **overrides), tmp_path)
    before = recipe.initial_eval["val_rewards/accuracy"]
    after = recorder.of("metrics")[-1]
    assert 0.25 <= before <= 0.75, before
    assert after["val_rewards/accuracy"] > 0.9, after
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margin", "rewards/accuracy", "logps/chosen", "logps/rejected",
                "loss", "lr", "grad_norm", "tokens_per_s", "trained_tokens", "eta_s"):
        assert key in after
    assert recorder.of("done")[0]["status"] == "completed"


def _live_parameter_numel() -> int:
    return sum(p.numel() for p in gc.get_objects() if type(p) is torch.nn.Parameter)


@pytest.mark.parametrize("finetune, precompute, copies", [("lora", False, 1), ("full", False, 2), ("full", True, 1)])
def test_dpo_reference_holds_no_second_copy_with_lora(pref_config, tmp_path, finetune, precompute, copies):
    gc.collect()
    baseline = _live_parameter_numel()
    config = pref_config("dpo", finetune=finetune, training__max_steps=2, preference={"precompute_reference": precompute})
    _, recipe = run_pref(config, tmp_path)
    gc.collect()
    total = sum(p.numel() for p in recipe.model.parameters())
    # Every live parameter tensor belongs to the trained model; full fine-tuning's frozen copy is the contrast.
    assert _live_parameter_numel() - baseline == total * copies
    assert (recipe.policy.reference is None) == (copies == 1)


def test_precomputed_reference_log_probs_give_the_same_run(pref_config, tmp_path):
    live, _ = run_pref(pref_config("dpo", training__max_steps=3), tmp_path / "a")
    pre, recipe = run_pref(pref_config("dpo", training__max_steps=3, preference={"precompute_reference": True}), tmp_path / "b")
    assert recipe.ref_logps["train"].shape == (24, 2)
    assert [m["loss"] for m in pre.of("metrics")] == pytest.approx([m["loss"] for m in live.of("metrics")], rel=1e-5)
    assert any(e["phase"] == "reference" and e["eta_s"] is not None for e in pre.of("progress"))


def test_resume_equals_the_uninterrupted_run(pref_config, tmp_path):
    config = pref_config("dpo", training__max_steps=6, training__checkpoint_every=3, preference={"precompute_reference": True})

    def holds_the_reference(run_dir: Path) -> None:
        assert (run_dir / "checkpoints" / "step-00000003" / "reference_logps.pt").is_file()

    assert_resume_is_exact(config, tmp_path, ("loss", "rewards/margin", "logps/chosen", "grad_norm"), holds_the_reference)


def test_orpo_applies_goldfish_to_its_sft_term_only(pref_config, tmp_path):
    recorder, _ = run_pref(pref_config("orpo", training__max_steps=2, training__goldfish={"k": 2, "h": 1, "variant": "static"}), tmp_path)
    last = recorder.of("metrics")[-1]
    assert last["dropped_tokens"] > 0 and "nll_loss" in last


def test_chaining_from_an_sft_adapter_starts_from_the_merged_weights(make_config, run_sft, pref_config, tmp_path):
    run_sft(make_config(training__max_steps=2, training__packing=False), tmp_path / "sft")
    adapter = tmp_path / "sft" / "outputs" / "adapter"
    recorder, recipe = run_pref(pref_config("dpo", training__max_steps=1, init_from=str(adapter)), tmp_path / "dpo")
    assert recorder.of("done")[0]["status"] == "completed"
    assert any("Loading the model from " + str(adapter) in e["message"] for e in recorder.of("progress"))
    assert recipe.cfg.init_from == str(adapter)


def test_conversations_are_refused_naming_the_missing_fields(pref_config, make_config, tmp_path):
    config = pref_config("dpo")
    config["data"]["train"] = make_config()["data"]["train"]  # examples/tiny-chat.jsonl: conversations
    with pytest.raises(WorkerError) as err:
        run_pref(config, tmp_path)
    assert err.value.code == "DATA_METHOD_MISMATCH"
    assert "prompt, chosen, rejected" in err.value.message


# ---------------------------------------------------------------- chunked log-probs vs full logits


class _LogitsSizes(TorchDispatchMode):
    """Largest newly allocated tensor with a vocab-sized last dimension that any op (forward or backward)
    produces; views and in-place results (sharing an input's storage, e.g. the head's weight.T) are not allocations."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab, self.largest = vocab, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {a.untyped_storage().data_ptr() for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)}
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dim() and t.shape[-1] == self.vocab and t.untyped_storage().data_ptr() not in inputs:
                self.largest = max(self.largest, t.numel())
        return out


def _loss_and_grads(recipe, chunked: bool):
    """Loss, rewards and trainable gradients of one micro-batch of 4 pairs, chunked or from full logits."""
    policy = recipe.policy
    heads = (policy.head, policy.ref_head)
    if not chunked:
        policy.head = policy.ref_head = None
    recipe.model.eval()  # no LoRA dropout: both paths see the same network
    recipe.model.zero_grad(set_to_none=True)
    try:
        batch = policy.to_device(collate_pairs(recipe.pairs[:4], recipe.loop.pad_id))
        out, nll, count = recipe.pair_loss(batch, "train", [0, 1, 2, 3], None)
        loss = out.losses.mean() + (nll / count if nll is not None else 0.0)
        loss.backward()
    finally:
        policy.head, policy.ref_head = heads
    grads = {name: p.grad.clone() for name, p in recipe.model.named_parameters() if p.grad is not None}
    return loss.detach(), out, grads


@pytest.mark.parametrize("method, finetune", [("dpo", "lora"), ("dpo", "full"), ("simpo", "lora"), ("orpo", "lora")])
def test_chunked_log_probs_give_the_same_loss_rewards_and_gradients(pref_config, tmp_path, method, finetune):
    # One trained step first, so LoRA's B is no longer zero and the policy differs from the reference.
    recorder, recipe = run_pref(pref_config(method, finetune=finetune, training__max_steps=1, data__validation=None), tmp_path)
    assert recipe.policy.head is not None and not any("chunked_loss" in e["message"] for e in recorder.of("log"))
    assert (recipe.policy.ref_head is not recipe.policy.head) == (finetune == "full" and method == "dpo")
    loss, out, grads = _loss_and_grads(recipe, chunked=True)
    loss_full, out_full, grads_full = _loss_and_grads(recipe, chunked=False)
    assert float(loss) == pytest.approx(float(loss_full), abs=1e-6)
    # Summed log-probs are ~−30 here, where one fp32 ulp is 2e-6: 1e-6 relative is rounding, nothing more.
    for field in ("losses", "chosen_rewards", "rejected_rewards", "chosen_logps", "rejected_logps"):
        torch.testing.assert_close(getattr(out, field), getattr(out_full, field), atol=1e-6, rtol=1e-6)
    assert grads.keys() == grads_full.keys() and len(grads) > 0
    if finetune == "full":
        assert "lm_head.weight" in grads  # the head's own gradient comes from the chunked backward too
    for name in grads:
        torch.testing.assert_close(grads[name], grads_full[name], atol=1e-6, rtol=1e-5, msg=name)


def test_chunked_log_probs_never_hold_more_than_one_chunk_of_logits(pref_config, tmp_path, monkeypatch):
    _, recipe = run_pref(pref_config("orpo", training__max_steps=1, data__validation=None), tmp_path)
    vocab, chunk = recipe.model.get_output_embeddings().out_features, 4
    monkeypatch.setattr(policy_module, "linear_token_logps", functools.partial(policy_module.linear_token_logps, chunk=chunk))
    head_outputs: list[tuple[int, ...]] = []
    hook = recipe.model.get_output_embeddings().register_forward_hook(lambda m, i, o: head_outputs.append(tuple(o.shape)))
    sizes = {}
    try:
        for chunked in (False, True):
            with _LogitsSizes(vocab) as seen:
                _loss_and_grads(recipe, chunked)
            sizes[chunked] = seen.largest
    finally:
        hook.remove()
    batch = collate_pairs(recipe.pairs[:4], recipe.loop.pad_id)["input_ids"]
    # Full logits: all 2n rows × T positions × vocab (as lm_head's output); chunked: never more than chunk × vocab.
    assert head_outputs == [(8, batch.shape[1], vocab)]
    assert sizes[False] >= batch.numel() * vocab
    assert 0 < sizes[True] <= chunk * vocab


def test_chunked_loss_off_or_an_unchunkable_head_uses_full_logits(pref_config, tmp_path):
    recorder, recipe = run_pref(pref_config("simpo", training__max_steps=1, data__validation=None, training__chunked_loss=False), tmp_path / "off")
    assert recipe.policy.head is None and not any("chunked_loss" in e.get("message", "") for e in recorder.of("log"))
    config = pref_config("simpo", training__max_steps=1, data__validation=None, lora__target_modules=["q_proj", "lm_head"])
    recorder, recipe = run_pref(config, tmp_path / "lora-head")
    assert recipe.policy.head is None
    assert any(e["level"] == "warning" and "LoRA-wrapped" in e["message"] for e in recorder.of("log"))


# ---------------------------------------------------------------- speed switches (speed.py)


def test_speed_switches_reach_the_preference_recipe(pref_config, tmp_path):
    config = pref_config("dpo", training__max_steps=1, data__validation=None, training__activation_offload=True,
                         training__gradient_checkpointing=True)
    recorder, recipe = run_pref(config, tmp_path / "offload")
    ready = [e["message"] for e in recorder.of("progress") if e["message"].startswith("Model ready")]
    assert len(ready) == 1 and ready[0].endswith("; chunked log-probs; activations offloaded to CPU")
    assert recipe.policy.speed.offload_on and recipe.policy.head is recipe.policy.speed.head
    assert recorder.of("done")[-1]["status"] == "completed"
    # A switch this machine cannot honour fails as it does for SFT, before any training.
    with pytest.raises(WorkerError) as info:
        run_pref(pref_config("orpo", training__max_steps=1, training__liger=True), tmp_path / "liger")
    assert info.value.code == "CONFIG_INVALID" and "training.liger needs CUDA" in info.value.message


def test_compile_reaches_the_preference_recipe(pref_config, tmp_path):
    # Set up only (load the model, apply the switches): torch.compile compiles lazily, at the first forward.
    recorder = Recorder()
    recipe = PreferenceRecipe("job", tmp_path, parse_run_config(pref_config("simpo", training__compile=True)), recorder.emitter, lambda: False)
    recipe.loop.begin()
    recipe.load_data()
    recipe.load_model(None)
    assert recorder.of("progress")[-1]["message"].endswith("; 2 decoder layers compiled")


# ---------------------------------------------------------------- NEFTune and DPO's reference


def test_lora_dpo_with_neftune_step_zero_rewards_are_exactly_zero(pref_config, tmp_path, monkeypatch):
    # LoRA DPO with NEFTune on. At step 0 LoRA's B is zero, so the initial policy *is* the reference.
    # The reference pass runs inside the policy's armed NEFTune block (_micro_loss arms it around the
    # whole pair loss) on the same hooked embedding module with the adapter disabled. It must see
    # clean embeddings: its log-probs must equal the clean policy's bit for bit, so the implicit
    # rewards β·(log π − log π_ref) of the initial policy are exactly 0. "Clean" is measured in eval
    # mode, where the hook never adds noise, independently of how the recipe pauses it.
    seen = []
    original = PreferenceRecipe._reference_pass

    def spy(self, batch):
        out = original(self, batch)
        if self.loop.state.step == 0:
            armed = self.loop.neftune._scales is not None
            p = self.policy
            self.model.eval()
            try:
                with torch.no_grad():
                    policy = torch.stack(p.token_logps(self.model, p.head, batch).sum(-1).chunk(2), dim=1)
                    with self.model.disable_adapter():
                        clean_ref = torch.stack(p.token_logps(self.model, p.ref_head, batch).sum(-1).chunk(2), dim=1)
            finally:
                self.model.train()
            seen.append({"armed": armed, "ref_clean": torch.equal(out, clean_ref), "rewards": self.pref.beta * (policy - out)})
        return out

    monkeypatch.setattr(PreferenceRecipe, "_reference_pass", spy)
    recorder, _ = run_pref(pref_config("dpo", training__max_steps=1, data__validation=None, training__neftune_alpha=5.0), tmp_path)
    assert seen and all(s["armed"] for s in seen)  # the policy's noise was on around every reference pass
    assert all(s["ref_clean"] for s in seen)
    for s in seen:
        assert torch.equal(s["rewards"], torch.zeros_like(s["rewards"]))
    assert recorder.of("metrics")
