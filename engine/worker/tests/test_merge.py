"""merge.py: soups and DARE of LoRA and full fine-tunes of the tiny model, checked against PEFT's own merge."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from support import Recorder

from whetstone_worker import modeling
from whetstone_worker.jobs import merge
from whetstone_worker.errors import WorkerError
from whetstone_worker.server import run_task

CPU = torch.device("cpu")


def _adapter(tiny_model, out, seed: int):
    from peft import LoraConfig, get_peft_model

    model = modeling.load_model(tiny_model, torch.float32, False, CPU)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.3)
    peft.save_pretrained(out)
    merged = {k: v.clone() for k, v in peft.merge_and_unload().state_dict().items()}
    return out, merged


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    a = _adapter(tiny_model, root / "a", 1)
    b = _adapter(tiny_model, root / "b", 2)
    base = load_file(str(tiny_model / "model.safetensors"))
    return {"a": a, "b": b, "base": base, "root": root}


def do_merge(tiny_model, out, sources, method="soup", p=0.0, seed=0) -> dict:
    command = {"model_path": str(tiny_model), "sources": sources, "method": method, "p": p, "seed": seed,
               "dtype": "float32", "shard_size_mb": 1, "out_dir": str(out)}
    recorder = Recorder()
    run_task(merge.run, "m", command, recorder.emitter, lambda: False)
    done = recorder.of("done")[-1]
    assert done["status"] == "completed"
    return done["result"]


def weights(folder) -> dict[str, torch.Tensor]:
    tensors = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors |= load_file(str(f))
    return tensors


def test_soup_of_one_run_equals_that_run(tiny_model, runs, tmp_path):
    (path, merged) = runs["a"]
    result = do_merge(tiny_model, tmp_path / "soup1", [{"path": str(path), "kind": "adapter"}])
    out = weights(tmp_path / "soup1")
    assert set(out) == set(runs["base"])
    for name, tensor in out.items():
        assert torch.allclose(tensor, merged[name], atol=1e-6), name
    assert result["tensors"] == len(runs["base"]) and result["method"] == "soup"
    assert {"config.json", "tokenizer.json", "chat_template.jinja"} <= {f.name for f in (tmp_path / "soup1").iterdir()}
    model = modeling.load_model(tmp_path / "soup1", torch.float32, False, CPU)  # loads as a transformers model
    assert sum(p.numel() for p in model.parameters()) == result["parameters"]


def test_soup_averages_the_merged_deltas_not_a_and_b(tiny_model, runs, tmp_path):
    do_merge(tiny_model, tmp_path / "soup2", [{"path": str(runs["a"][0]), "kind": "adapter"}, {"path": str(runs["b"][0]), "kind": "adapter"}])
    out = weights(tmp_path / "soup2")
    ma, mb = runs["a"][1], runs["b"][1]
    for name, tensor in out.items():
        assert torch.allclose(tensor, (ma[name] + mb[name]) / 2, atol=1e-6), name
    # Averaging A and B separately would give a different (wrong) update.
    a, b = load_file(str(runs["a"][0] / "adapter_model.safetensors")), load_file(str(runs["b"][0] / "adapter_model.safetensors"))
    key = next(k for k in a if "q_proj.lora_A" in k)
    bkey = key.replace("lora_A", "lora_B")
    wrong = ((a[bkey] + b[bkey]) / 2) @ ((a[key] + b[key]) / 2) * 2
    target = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
    assert not torch.allclose(runs["base"][target] + wrong, out[target], atol=1e-3)


def test_dare_with_p_zero_is_plain_delta_addition(tiny_model, runs, tmp_path):
    sources = [{"path": str(runs["a"][0]), "kind": "adapter"}, {"path": str(runs["b"][0]), "kind": "adapter"}]
    do_merge(tiny_model, tmp_path / "dare0", sources, method="dare", p=0.0)
    out, base = weights(tmp_path / "dare0"), runs["base"]
    for name, tensor in out.items():
        expected = base[name] + (runs["a"][1][name] - base[name]) + (runs["b"][1][name] - base[name])
        assert torch.allclose(tensor, expected, atol=1e-5), name


def test_dare_drops_a_fraction_and_rescales_the_rest_reproducibly(tiny_model, runs, tmp_path):
    sources = [{"path": str(runs["a"][0]), "kind": "adapter"}]
    do_merge(tiny_model, tmp_path / "dare5", sources, method="dare", p=0.5, seed=3)
    do_merge(tiny_model, tmp_path / "dare5b", sources, method="dare", p=0.5, seed=3)
    out, again, base = weights(tmp_path / "dare5"), weights(tmp_path / "dare5b"), runs["base"]
    name = "model.layers.0.self_attn.q_proj.weight"
    delta = runs["a"][1][name] - base[name]
    got = out[name] - base[name]
    kept = got != 0
    assert 0.4 < kept.float().mean().item() < 0.6
    assert torch.allclose(got[kept], 2 * delta[kept], atol=1e-5)
    assert torch.equal(out[name], again[name])
    untouched = "model.layers.0.self_attn.k_proj.weight"  # no LoRA there: no delta to drop
    assert torch.equal(out[untouched], base[untouched])


def test_full_and_lora_runs_merge_and_mismatched_shapes_are_refused(tiny_model, runs, tmp_path):
    full = tmp_path / "full"
    shutil.copytree(tiny_model, full)
    tensors = load_file(str(full / "model.safetensors"))
    tensors["model.norm.weight"] = tensors["model.norm.weight"] + 1
    save_file(tensors, str(full / "model.safetensors"), metadata={"format": "pt"})
    do_merge(tiny_model, tmp_path / "mixed", [{"path": str(full), "kind": "model"}, {"path": str(runs["a"][0]), "kind": "adapter"}])
    out = weights(tmp_path / "mixed")
    assert torch.allclose(out["model.norm.weight"], runs["base"]["model.norm.weight"] + 0.5)

    tensors["model.norm.weight"] = torch.ones(7)
    save_file(tensors, str(full / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(WorkerError) as info:
        do_merge(tiny_model, tmp_path / "bad", [{"path": str(full), "kind": "model"}])
    assert info.value.code == "MERGE_MISMATCH" and "model.norm.weight" in info.value.message and "[7]" in info.value.message
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad*"))
