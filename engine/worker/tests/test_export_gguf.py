"""gguf export read back with gguf-py: metadata (architecture, hyperparameters, tokenizer, chat
template), tensor names and types per quantization, and every tensor equal to the merged weights
(after undoing the q/k permutation) within the quantization's error. That llama.cpp itself loads
the file and computes the same logits is tests/engine/export/export.test.ts (node-llama-cpp)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from export_fixtures import command, make_adapter, make_spm_model, run_export

from whetstone_worker.errors import WorkerError
from whetstone_worker.jobs.export import gguf_out
from whetstone_worker.jobs.export.source import WeightSource

# Largest |weight error| relative to the tensor's largest |weight|: q8_0 keeps 8 bits per block of 32.
RELATIVE = {"f32": 0.0, "f16": 1e-3, "q8_0": 1e-2}


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory):
    return make_adapter(tiny_model, tmp_path_factory.mktemp("export-gguf") / "adapter")


def read(path):
    import gguf

    reader = gguf.GGUFReader(str(path))
    return reader, {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    return w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.mark.parametrize("quant", ["f32", "f16", "q8_0"])
def test_gguf_holds_the_merged_weights_the_tokenizer_and_the_chat_template(tiny_model, tiny_tokenizer, adapter, tmp_path, quant):
    import gguf

    out = tmp_path / quant
    done = run_export(command(tiny_model, adapter, out, fmt="gguf", quantization=quant)).of("done")[0]
    assert [f["path"] for f in done["result"]["files"]] == ["Modelfile", "README.md", f"model-{quant}.gguf"]
    assert f"FROM ./model-{quant}.gguf" in (out / "Modelfile").read_text()
    reader, meta = read(out / f"model-{quant}.gguf")
    config = json.loads((tiny_model / "config.json").read_text())
    assert meta["general.architecture"] == "llama"
    assert meta["general.file_type"] == {"f32": 0, "f16": 1, "q8_0": 7}[quant]
    assert meta["llama.block_count"] == config["num_hidden_layers"]
    assert meta["llama.attention.head_count_kv"] == config["num_key_value_heads"]
    assert meta["llama.rope.dimension_count"] == config["head_dim"]
    assert meta["tokenizer.chat_template"] == tiny_tokenizer.chat_template
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "gpt-2"
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == config["vocab_size"] and tokens[tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")] == "<|im_end|>"
    assert meta["tokenizer.ggml.token_type"][tiny_tokenizer.convert_tokens_to_ids("<|im_start|>")] == gguf.TokenType.CONTROL
    assert len(meta["tokenizer.ggml.merges"]) > 100
    assert meta["tokenizer.ggml.eos_token_id"] == tiny_tokenizer.eos_token_id
    assert meta["tokenizer.ggml.add_bos_token"] is False  # the fixture's tokenizer adds none

    merged = {ref.name: tensor for ref, tensor in WeightSource(tiny_model, adapter, "adapter")}
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    by_gguf = {names.get_name(k, try_suffixes=(".weight",)): k for k in merged}
    assert {t.name for t in reader.tensors} == set(by_gguf)
    for t in reader.tensors:
        expected = merged[by_gguf[t.name]].numpy()
        got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(expected.shape)
        if t.name.endswith(("attn_q.weight", "attn_k.weight")):
            got = unpermute(got, config["num_attention_heads"] if "attn_q" in t.name else config["num_key_value_heads"])
        kind = "F32" if got.ndim == 1 or quant == "f32" else {"f16": "F16", "q8_0": "Q8_0"}[quant]
        assert t.tensor_type.name == kind, t.name
        assert np.abs(got - expected).max() <= RELATIVE[quant if kind != "F32" else "f32"] * np.abs(expected).max() + 1e-7, t.name


def test_permutation_interleaves_the_rotate_half_pairs():
    # One head of dim 4: rows (a0, a1, b0, b1) pair a_i with b_i in rotate-half; llama.cpp wants (a0, b0, a1, b1).
    w = torch.arange(8.0).reshape(4, 2)
    assert gguf_out._permute(w, 1)[:, 0].tolist() == [0.0, 4.0, 2.0, 6.0]
    assert np.array_equal(unpermute(gguf_out._permute(w, 1).numpy(), 1), w.numpy())


def test_llama3_rope_scaling_becomes_rope_freqs():
    config = {"hidden_size": 64, "num_attention_heads": 4, "head_dim": 128,
              "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
    factors = gguf_out._rope_factors(config)
    assert factors.shape == (64,) and factors[0] == 1.0 and factors[-1] == 8.0
    assert np.all(np.diff(factors) >= 0)  # high frequencies untouched, low ones divided by the full factor
    assert gguf_out._rope_factors({"rope_parameters": {"rope_type": "default", "rope_theta": 1e4}}) is None
    with pytest.raises(WorkerError, match="yarn"):
        gguf_out._rope_factors({"rope_parameters": {"rope_type": "yarn", "factor": 4.0}})


def test_an_architecture_llama_cpp_layout_does_not_cover_is_refused_before_writing(tiny_model, adapter, tmp_path):
    other = tmp_path / "phi"
    shutil.copytree(tiny_model, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "phi3"}))
    with pytest.raises(WorkerError) as err:
        run_export(command(other, adapter, tmp_path / "out", fmt="gguf"))
    assert err.value.code == "EXPORT_UNSUPPORTED" and "'phi3'" in err.value.message and "convert_hf_to_gguf" in err.value.hint
    assert list(tmp_path.glob("*out*")) == []


def test_pre_tokenizer_is_named_from_the_split_regex():
    llama3 = next(k for k, v in gguf_out.PRE_TOKENIZERS.items() if v == "llama-bpe")
    spec = {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}}
    assert gguf_out._pre_tokenizer(spec, "x") == "llama-bpe"
    spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\w+"
    with pytest.raises(WorkerError, match="splits text"):
        gguf_out._pre_tokenizer(spec, "x")


def test_sentencepiece_style_tokenizers_get_the_llama_vocab_with_merge_rank_scores(tmp_path):
    import gguf
    from transformers import AutoTokenizer

    model = make_spm_model(tmp_path / "spm")
    run_export(command(model, model, tmp_path / "out", fmt="gguf", tuned_kind="model", quantization="f32"))
    _, meta = read(tmp_path / "out" / "model-f32.gguf")
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    assert meta["tokenizer.ggml.model"] == "llama" and meta["tokenizer.ggml.add_space_prefix"] is True
    assert meta["tokenizer.ggml.add_bos_token"] is True and meta["tokenizer.ggml.bos_token_id"] == 1
    types, scores, tokens = meta["tokenizer.ggml.token_type"], meta["tokenizer.ggml.scores"], meta["tokenizer.ggml.tokens"]
    assert types[0] == gguf.TokenType.UNKNOWN and types[1] == types[2] == gguf.TokenType.CONTROL
    assert tokens[3 + 0x41] == "<0x41>" and types[3 + 0x41] == gguf.TokenType.BYTE
    merges = json.loads((model / "tokenizer.json").read_text())["model"]["merges"]
    first = "".join(merges[0].split(" ") if isinstance(merges[0], str) else merges[0])
    assert scores[tokenizer.convert_tokens_to_ids(first)] == 0.0 and min(scores) == -(len(merges) - 1)
