"""`gguf` export: one GGUF file for llama.cpp, Ollama and LM Studio (Llama, Mistral and Qwen2 layouts).

Follows llama.cpp's convert_hf_to_gguf.py for these architectures: tensor names from gguf-py's
TensorNameMap, hyperparameters under `<arch>.*`, q_proj/k_proj rows permuted from Hugging Face's
rotate-half RoPE layout to llama.cpp's interleaved one (Llama and Mistral only; Qwen2 uses NEOX
RoPE in llama.cpp and needs none), Llama 3.1 RoPE scaling as a `rope_freqs` tensor, and the
tokenizer: byte-level BPE ("gpt2" model with its merges and the pre-tokenizer named from
tokenizer.json's split regex) or SentencePiece-style byte-fallback BPE ("llama" model, scores from
the merge ranks), with the
special token ids and the chat template (tokenizer.chat_template) from the exported tokenizer files.

Tensor types follow llama.cpp's rules: 1-D tensors, norms and biases stay F32; matrices are F16 or
Q8_0 (blocks of 32 with one f16 scale, 8.5 bits a weight; a row not divisible by 32 falls back to
F16) or F32. The file is written in one streaming pass: every tensor's shape and type is known from
the checkpoint headers, so the header and tensor table go first and each tensor is merged,
permuted, quantized and appended in turn (memory: one tensor).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WorkerError
from .context import Context
from .source import TensorRef, WeightSource

ARCHS = {"llama": ("LLAMA", True), "mistral": ("LLAMA", True), "qwen2": ("QWEN2", False)}
# tokenizer.json Split regexes → llama.cpp pre-tokenizer names (llama-vocab.cpp keeps these as comments).
PRE_TOKENIZERS = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": "llama-bpe",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+": "qwen2",
}
FILE_TYPES = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0"}


@dataclass
class Planned:
    ref: TensorRef | None  # None: a tensor made here (rope_freqs)
    name: str
    shape: tuple[int, ...]
    qtype: object  # gguf.GGMLQuantizationType
    permute_heads: int | None = None
    data: np.ndarray | None = None


def validate(command: dict) -> None:
    if command["quantization"] is None:
        raise WorkerError("EXPORT_INVALID", "A gguf export needs a quantization (f16, q8_0 or f32)", "Pass --quant f16, q8_0 or f32.")


def estimate(source: WeightSource, command: dict) -> int:
    return sum(_nbytes(p) for p in plan(source, command["quantization"]))


def write(ctx: Context) -> None:
    import gguf

    quant = ctx.command["quantization"]
    config = _config(ctx.source)
    arch_key, _ = ARCHS[config["model_type"]]
    planned = plan(ctx.source, quant, config)
    path = ctx.staging / f"model-{quant}.gguf"
    writer = gguf.GGUFWriter(path=str(path), arch=gguf.MODEL_ARCH_NAMES[getattr(gguf.MODEL_ARCH, arch_key)])
    _hyperparameters(writer, config, quant, ctx.command["card"])
    ctx.log(f"GGUF tokenizer: {_vocabulary(writer, ctx.tokenizer_dir, config)}")
    for p in planned:
        if p.qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            dtype = np.float32 if p.qtype == gguf.GGMLQuantizationType.F32 else np.float16
            writer.add_tensor_info(p.name, p.shape, np.dtype(dtype), _nbytes(p))
        else:
            byte_shape = gguf.quant_shape_to_byte_shape(p.shape, p.qtype)
            writer.add_tensor_info(p.name, byte_shape, np.dtype(np.uint8), _nbytes(p), raw_dtype=p.qtype)
    total = sum(_nbytes(p) for p in planned)
    ctx.progress.start("export", total, "bytes", f"Writing {len(planned)} tensors into {path.name} ({quant})")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    try:
        for i, p in enumerate(planned, 1):
            data = p.data if p.ref is None else ctx.source.load(p.ref)
            if p.permute_heads:
                data = _permute(data, p.permute_heads)
            array = data.numpy() if hasattr(data, "numpy") else data
            writer.write_tensor_data(gguf.quants.quantize(np.ascontiguousarray(array, dtype=np.float32), p.qtype))
            ctx.progress.advance(_nbytes(p), f"tensor {i} of {len(planned)}: {p.name} ({p.qtype.name})")
    finally:
        writer.close()
    (ctx.staging / "Modelfile").write_text(
        f"# Ollama: `ollama create NAME -f Modelfile`; the chat template comes from the GGUF file.\nFROM ./{path.name}\n",
        encoding="utf-8")


def plan(source: WeightSource, quant: str, config: dict | None = None) -> list[Planned]:
    import gguf

    config = config or _config(source)
    arch_key, permute = ARCHS[config["model_type"]]
    n_layers = config["num_hidden_layers"]
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch_key), n_layers)
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    planned: list[Planned] = []
    for ref in source.refs:
        if ref.name.endswith("rotary_emb.inv_freq"):
            continue
        name = names.get_name(ref.name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise WorkerError("EXPORT_UNSUPPORTED", f"The tensor {ref.name} of {source.config_dir} has no GGUF name for {arch_key.lower()}",
                              "This checkpoint has parts llama.cpp's Llama/Qwen2 layout does not know; export safetensors instead.")
        heads_for = heads if ".q_proj." in ref.name else kv_heads if ".k_proj." in ref.name else None
        planned.append(Planned(ref, name, ref.shape, _qtype(name, ref.shape, quant), heads_for if permute else None))
    factors = _rope_factors(config)
    if factors is not None:
        planned.append(Planned(None, "rope_freqs.weight", factors.shape, gguf.GGMLQuantizationType.F32, data=factors))
    return planned


def _config(source: WeightSource) -> dict:
    config = json.loads((source.config_dir / "config.json").read_text(encoding="utf-8"))
    kind = config.get("model_type")
    if kind not in ARCHS:
        raise WorkerError("EXPORT_UNSUPPORTED", f"GGUF export supports Llama, Mistral and Qwen2 models; {source.config_dir} is {kind!r}",
                          "Export --format safetensors and convert it with llama.cpp's convert_hf_to_gguf.py, which knows more architectures.")
    return config


def _qtype(name: str, shape: tuple[int, ...], quant: str):
    from gguf import GGMLQuantizationType as Q

    if quant == "f32" or len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return Q.F32
    if quant == "f16" or shape[-1] % 32 != 0:
        return Q.F16
    return Q.Q8_0


def _nbytes(p: Planned) -> int:
    from gguf import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[p.qtype]
    return math.prod(p.shape) // block * size


def _permute(weights, n_head: int):
    # convert_hf_to_gguf.py LlamaModel.permute: rotate-half pairs (i, i + d/2) become adjacent (2i, 2i + 1).
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _rope(config: dict) -> tuple[float, dict]:
    rope = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    return float(theta), rope


def _rope_factors(config: dict) -> np.ndarray | None:
    theta, rope = _rope(config)
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind in ("default", "linear", None):
        return None
    if kind != "llama3":
        raise WorkerError("EXPORT_UNSUPPORTED", f"RoPE scaling {kind!r} is not supported by the GGUF export",
                          "Export --format safetensors and convert it with llama.cpp's convert_hf_to_gguf.py.")
    # Llama 3.1: llama.cpp divides each frequency by a factor stored in rope_freqs.weight.
    dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    factor, low, high = rope.get("factor", 8.0), rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old = rope.get("original_max_position_embeddings", 8192)
    out = []
    for freq in 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim):
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def _hyperparameters(writer, config: dict, quant: str, card: dict) -> None:
    import gguf

    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    theta, rope = _rope(config)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(str(card.get("name") or "model"))
    if card.get("base_model_name") or card.get("base_model"):
        writer.add_base_model_count(1)
        writer.add_base_model_name(0, str(card.get("base_model_name") or card.get("base_model")))
    writer.add_vocab_size(config["vocab_size"])
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(theta)
    if rope.get("rope_type", rope.get("type")) == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[quant]))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _vocabulary(writer, folder: Path, config: dict) -> str:
    """Tokens, types, merges or scores, special ids and the chat template; returns what was written, for the log."""
    import gguf
    from transformers import AutoTokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise WorkerError("EXPORT_UNSUPPORTED", f"GGUF export needs a fast tokenizer (tokenizer.json) and {folder} has none",
                          "Save the tokenizer with transformers (AutoTokenizer.from_pretrained(...).save_pretrained(...)) first.")
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if model.get("type") == "BPE" and model.get("byte_fallback"):
        tokens, scores, types = _spm_tokens(tokenizer, model, config["vocab_size"])
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_add_space_prefix(_adds_space_prefix(spec))
        special = gguf.SpecialVocab(folder, n_vocab=len(tokens))
        kind = "llama (SentencePiece-style BPE)"
    elif model.get("type") == "BPE":
        tokens, types = _bpe_tokens(tokenizer, config["vocab_size"])
        writer.add_tokenizer_model("gpt2")
        pre = _pre_tokenizer(spec, folder)
        writer.add_tokenizer_pre(pre)
        kind = f"gpt2 (byte-level BPE, pre-tokenizer {pre})"
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens))
        if "bos" not in special.add_special_token:  # say it either way: llama.cpp's default differs per vocab type
            probe = tokenizer("a")["input_ids"]
            special.add_special_token["bos"] = bool(probe) and probe[0] == tokenizer.bos_token_id
    else:
        raise WorkerError("EXPORT_UNSUPPORTED", f"GGUF export supports BPE tokenizers; {path} is {model.get('type')!r}",
                          "Export --format safetensors and convert it with llama.cpp's convert_hf_to_gguf.py.")
    special.add_to_gguf(writer, quiet=True)
    return f"{kind}, {len(tokens)} tokens" + (", chat template" if special.chat_template else ", no chat template")


def _bpe_tokens(tokenizer, vocab_size: int) -> tuple[list[str], list[int]]:
    from gguf import TokenType

    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(max(vocab_size, len(reverse))):
        text = reverse.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
        elif text in added:
            special = decoder[i].special if i in decoder else False
            tokens.append(text if special else tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)))
            types.append(TokenType.CONTROL if special else TokenType.USER_DEFINED)
        else:
            tokens.append(text)
            types.append(TokenType.NORMAL)
    return tokens, types


def _spm_tokens(tokenizer, model: dict, vocab_size: int) -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style BPE (Llama 2, Mistral): llama.cpp merges the adjacent pair whose result
    scores highest, Hugging Face the pair that comes first in `merges`, so a token's score is minus
    the rank of the merge that makes it (what sentencepiece's own scores amount to for BPE models)."""
    from gguf import TokenType

    rank: dict[str, int] = {}
    for i, merge in enumerate(model.get("merges", [])):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        rank.setdefault(left + right, i)
    reverse = {i: t for t, i in tokenizer.get_vocab().items()}
    decoder = tokenizer.added_tokens_decoder
    tokens, scores, types = [], [], []
    for i in range(max(vocab_size, len(reverse))):
        text = reverse.get(i, f"[PAD{i}]")
        tokens.append(text)
        scores.append(-float(rank[text]) if text in rank else 0.0)
        if i not in reverse:
            types.append(TokenType.UNUSED)
        elif text == tokenizer.unk_token:
            types.append(TokenType.UNKNOWN)
        elif i in decoder:
            types.append(TokenType.CONTROL if decoder[i].special else TokenType.USER_DEFINED)
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    return tokens, scores, types


def _adds_space_prefix(spec: dict) -> bool:
    """Whether the tokenizer puts "▁" before the text (Prepend normalizer, or a Metaspace that prepends)."""
    text = json.dumps([spec.get("normalizer"), spec.get("pre_tokenizer")])
    prepend = '"type": "Prepend"' in text
    metaspace = '"type": "Metaspace"' in text and '"prepend_scheme": "never"' not in text
    return prepend or metaspace


def _pre_tokenizer(spec: dict, folder: Path) -> str:
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", False):
        return "gpt-2"
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    if (len(steps) == 2 and steps[0].get("type") == "Split" and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)):
        name = PRE_TOKENIZERS.get((steps[0].get("pattern") or {}).get("Regex"))
        if name:
            return name
    raise WorkerError("EXPORT_UNSUPPORTED", f"The tokenizer in {folder} splits text in a way the GGUF export does not know",
                      "Known: GPT-2, Llama 3 and Qwen2 byte-level BPE. Export --format safetensors and convert it with "
                      "llama.cpp's convert_hf_to_gguf.py, which recognizes more tokenizers.")
