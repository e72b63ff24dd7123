"""What only a CUDA machine can check (skipped elsewhere, each with its reason); run by bench/gpu-check.sh.

The rest of the suite runs on CUDA too when one is present (the recipes pick the device), so these
tests cover only the paths that do not exist on a CPU: FlashAttention's varlen packing, QLoRA's 4-bit
base, Liger's Triton kernels, torch.compile of the decoder layers, activation offload to pinned
memory, the CUDA peak in preflight, and the OUT_OF_MEMORY answer when the card is full.
Each switch is checked against the plain run on the same data: the same losses within bf16 noise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from support import TINY_CHAT, Recorder

from whetstone_worker.data.batches import model_inputs
from whetstone_worker.data.chat import build_samples
from whetstone_worker.data.packing import collate_packed
from whetstone_worker.errors import WorkerError
from whetstone_worker.server import run_task

CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not CUDA, reason="needs an NVIDIA GPU (bench/gpu-check.sh runs these on one)")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _losses(recorder: Recorder) -> list[float]:
    return [e["loss"] for e in recorder.of("metrics")]


def _train(make_config, run_sft, tmp_path: Path, name: str, **overrides):
    config = make_config(training__max_steps=6, training__checkpoint_every=6, training__precision="bf16", **overrides)
    recorder, recipe = run_sft(config, tmp_path / name)
    assert recorder.of("done")[-1]["status"] == "completed"
    return _losses(recorder), recipe


def _close(a: list[float], b: list[float], rel: float) -> None:
    assert len(a) == len(b) and a
    for x, y in zip(a, b):
        assert x == pytest.approx(y, rel=rel)


@pytest.fixture(scope="module")
def samples(tiny_tokenizer):
    return build_samples(tiny_tokenizer, Path(TINY_CHAT), 256, "drop")[0]


@pytest.mark.parametrize("implementation", ["sdpa", "flash_attention_2"])
def test_packed_logits_equal_each_samples_own_logits_on_cuda(tiny_model, samples, implementation):
    """The CPU leak test, on the GPU kernels: sdpa with the block mask, and FlashAttention's varlen path."""
    from whetstone_worker import modeling

    if implementation == "flash_attention_2" and not _has("flash_attn"):
        pytest.skip("flash-attn is not installed in this Python: the varlen layout cannot run here")
    device = torch.device("cuda", 0)
    model = modeling.load_model(tiny_model, torch.bfloat16, False, device).eval()
    layout = "sdpa"
    if implementation == "flash_attention_2":
        model.set_attn_implementation("flash_attention_2")
        layout = "varlen"
    picked = [samples[i] for i in (0, 5, 9, 17)]
    batch = collate_packed([picked], [[s.ids.astype(np.int64) for s in picked]], pad_id=0, layout=layout)
    batch = {k: v.to(device) for k, v in batch.items()}
    with torch.no_grad():
        packed = model(**model_inputs(batch)).logits.float()
        at, worst = 0, 0.0
        for s in picked:
            own = model(input_ids=torch.from_numpy(s.ids.astype(np.int64))[None].to(device)).logits[0].float()
            worst = max(worst, (packed[0, at : at + len(s.ids)] - own).abs().max().item())
            at += len(s.ids)
    # bf16 logits of a random model are O(1); kernel order differences stay near bf16's epsilon.
    assert worst < 0.1, f"{implementation}: packed logits differ from each sample's own by {worst}"


def test_packing_trains_like_padding_on_cuda(make_config, run_sft, tmp_path):
    padded, _ = _train(make_config, run_sft, tmp_path, "padded", training__packing=False)
    packed, recipe = _train(make_config, run_sft, tmp_path, "packed", training__packing=True)
    assert recipe.layout in ("sdpa", "varlen")
    # Different micro-batch compositions: the first step's mean loss is over the same tokens only
    # when both see one full batch, so compare the trend, and the first loss loosely.
    assert packed[0] == pytest.approx(padded[0], rel=0.05)
    assert packed[-1] < packed[0] and padded[-1] < padded[0]


def test_compile_gives_the_same_losses(make_config, run_sft, tmp_path):
    eager, _ = _train(make_config, run_sft, tmp_path, "eager", training__compile=False)
    compiled, recipe = _train(make_config, run_sft, tmp_path, "compiled", training__compile=True)
    assert "compile" in recipe.speed.summary
    _close(compiled, eager, rel=2e-2)


def test_activation_offload_gives_the_same_losses(make_config, run_sft, tmp_path):
    plain, _ = _train(make_config, run_sft, tmp_path, "plain", training__activation_offload=False)
    offloaded, recipe = _train(make_config, run_sft, tmp_path, "offload", training__activation_offload=True)
    assert "activations offloaded" in recipe.speed.summary
    _close(offloaded, plain, rel=1e-3)


@pytest.mark.skipif(not _has("liger_kernel"), reason="liger-kernel is not installed in this Python")
def test_liger_gives_the_same_losses(make_config, run_sft, tmp_path):
    plain, _ = _train(make_config, run_sft, tmp_path, "plain", training__liger=False)
    liger, recipe = _train(make_config, run_sft, tmp_path, "liger", training__liger=True)
    assert "Liger" in recipe.speed.summary
    _close(liger, plain, rel=2e-2)


@pytest.mark.skipif(not _has("bitsandbytes"), reason="bitsandbytes is not installed in this Python")
def test_qlora_trains(make_config, run_sft, tmp_path):
    lora, _ = _train(make_config, run_sft, tmp_path, "lora", finetune="lora")
    qlora, _ = _train(make_config, run_sft, tmp_path, "qlora", finetune="qlora")
    # 4-bit NF4 weights change the forward: the same start within quantisation error, and it learns.
    assert qlora[0] == pytest.approx(lora[0], rel=0.1)
    assert qlora[-1] < qlora[0]


def test_preflight_measures_the_cuda_peak(make_config, tmp_path):
    from whetstone_worker.jobs import preflight
    from whetstone_worker.config import parse_run_config

    recorder = Recorder()
    config = parse_run_config(make_config(training__precision="bf16"))
    run_task(preflight.run, "pf", {"run_dir": str(tmp_path), "config": config}, recorder.emitter, lambda: False)
    result = recorder.of("done")[-1]["result"]
    assert result["measure"] == "cuda max_memory_allocated"
    assert 0 < result["peak_bytes"] <= result["limit_bytes"]


def test_out_of_memory_is_an_answer_with_the_figures(make_config, run_sft, tmp_path):
    """A card that is full: OUT_OF_MEMORY with the peak and free memory, and what to change."""
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    hog = torch.empty(int(free * 0.999) // 4, dtype=torch.float32, device="cuda")
    try:
        with pytest.raises(WorkerError) as info:
            run_sft(make_config(training__max_steps=2, training__micro_batch_size=8), tmp_path)
    finally:
        del hog
        torch.cuda.empty_cache()
    assert info.value.code == "OUT_OF_MEMORY"
    assert "GiB" in info.value.message and "micro_batch_size" in info.value.hint
