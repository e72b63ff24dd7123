"""onnx export: the transformers.js folder layout, and ONNX Runtime's logits equal to base + adapter
in PyTorch for a padded batch, then for cached generation steps fed the graph's own presents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from export_fixtures import IDS, MASK, command, logits, make_adapter, reference_model, run_export

from whetstone_worker.errors import WorkerError

TOLERANCE = 1e-4  # float32 on both sides; measured about 2e-6


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export-onnx")
    adapter = make_adapter(tiny_model, root / "adapter")
    done = run_export(command(tiny_model, adapter, root / "onnx", fmt="onnx")).of("done")[0]
    return root / "onnx", adapter, done


def test_the_folder_is_what_transformers_js_loads(exported):
    out, _, done = exported
    files = {f["path"] for f in done["result"]["files"]}
    assert files >= {"onnx/model.onnx", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "README.md"}
    assert not any(".merged" in f for f in files)
    config = json.loads((out / "config.json").read_text())
    assert config["transformers.js_config"] == {"dtype": "fp32"} and config["model_type"] == "llama"
    assert "<|im_start|>" in json.loads((out / "tokenizer_config.json").read_text())["chat_template"]
    assert done["result"]["checks"]["onnx_max_abs_logit_diff"] < TOLERANCE


def test_onnx_runtime_matches_pytorch_with_padding_and_the_kv_cache(tiny_model, exported):
    import onnxruntime

    out, adapter, _ = exported
    session = onnxruntime.InferenceSession(str(out / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    config = json.loads((out / "config.json").read_text())
    layers, heads, dim = config["num_hidden_layers"], config["num_key_value_heads"], config["head_dim"]
    assert names[:3] == ["input_ids", "attention_mask", "position_ids"] and len(names) == 3 + 2 * layers

    model = reference_model(tiny_model, adapter)
    tokens, mask, ids = IDS, MASK, IDS
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    past = [np.zeros((2, heads, 0, dim), np.float32) for _ in range(2 * layers)]
    worst = 0.0
    for _ in range(3):  # the prompt, then two generated tokens fed with the graph's own cache
        outputs = session.run(None, dict(zip(names, [ids.numpy(), mask.numpy(), positions.numpy(), *past])))
        expected = logits(model, tokens, mask)[:, -ids.shape[1]:]  # PyTorch recomputes the whole sequence, no cache
        got = torch.from_numpy(outputs[0]) * mask[:, -ids.shape[1]:, None]
        worst = max(worst, (got - expected).abs().max().item())
        ids = expected[:, -1].argmax(-1, keepdim=True)
        tokens, mask = torch.cat([tokens, ids], 1), torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], 1)
        positions, past = positions[:, -1:] + 1, outputs[1:]
    print(f"\nonnx: max |logit - base+adapter| over prompt + 2 cached steps = {worst:.2e}")
    assert worst < TOLERANCE


def test_onnx_refuses_half_precision_before_writing(tiny_model, exported, tmp_path):
    _, adapter, _ = exported
    with pytest.raises(WorkerError) as err:
        run_export(command(tiny_model, adapter, tmp_path / "o", fmt="onnx", dtype="float16"))
    assert err.value.code == "EXPORT_UNSUPPORTED" and "--dtype float32" in err.value.hint
    assert not (tmp_path / "o").exists()
