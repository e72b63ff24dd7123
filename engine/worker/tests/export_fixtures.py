"""Helpers shared by the export tests: a LoRA adapter whose delta is large, commands, logits."""

from __future__ import annotations

from pathlib import Path

import torch
from support import Recorder

from whetstone_worker import export, modeling

CPU = torch.device("cpu")
# Two rows of token ids (vocabulary 1000), the second left-padded as in batched generation.
IDS = torch.tensor([[1, 347, 267, 202, 870, 82, 266, 265, 2, 202, 1, 541], [3, 3, 1, 513, 202, 9, 44, 610, 7, 99, 5, 12]])
MASK = torch.tensor([[1] * 12, [0, 0] + [1] * 10])
CARD = {
    "name": "tiny-sft",
    "base_model": "/models/tiny-llama",
    "base_model_name": "tiny-llama",
    "method": "sft",
    "finetune": "lora",
    "hyperparameters": {"lora": {"r": 4, "alpha": 8, "target_modules": "all-linear"}, "training": {"learning_rate": 0.003}},
    "dataset": {"name": "tiny-chat.jsonl", "sha256": "3f9a" * 16, "rows": 40},
    "metrics": {"steps": 8, "final_loss": 1.92},
    "evaluation": {"audit": {"base": {"exact_match_rate": 0.0, "lcs_ratio_mean": 0.1},
                             "tuned": {"exact_match_rate": 0.25, "lcs_ratio_mean": 0.4}}},
}


def make_adapter(base: Path, out: Path, seed: int = 1, **lora) -> Path:
    """A LoRA adapter with random B (a fresh one is zero, which would make every parity test pass)."""
    from peft import LoraConfig, get_peft_model

    model = modeling.load_model(base, torch.float32, False, CPU)
    options = {"r": 4, "lora_alpha": 8, "target_modules": "all-linear", "task_type": "CAUSAL_LM", **lora}
    torch.manual_seed(seed)  # lora_A's init
    peft_model = get_peft_model(model, LoraConfig(**options))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "lora_embedding_B" in name or "modules_to_save" in name or "lora_magnitude_vector" in name:
                param.add_(torch.randn(param.shape, generator=generator) * 0.05)
    peft_model.save_pretrained(str(out))
    return out


def command(base: Path, tuned: Path, out: Path, fmt: str = "safetensors", **over) -> dict:
    cmd = {"v": 1, "type": "export", "id": "export-1", "model_path": str(base), "tuned_path": str(tuned),
           "tuned_kind": "adapter", "format": fmt, "out_dir": str(out), "dtype": "float32",
           "quantization": "f16" if fmt == "gguf" else None, "shard_size_mb": 2048, "overwrite": False, "card": CARD}
    return {**cmd, **over}


def run_export(cmd: dict, cancelled=lambda: False) -> Recorder:
    recorder = Recorder()
    export.run(cmd["id"], cmd, recorder.emitter, cancelled)
    return recorder


def reference_model(base: Path, adapter: Path):
    """base + adapter through PEFT: what every export is compared with."""
    from peft import PeftModel

    return PeftModel.from_pretrained(modeling.load_model(base, torch.float32, False, CPU), str(adapter)).eval()


def logits(model, ids: torch.Tensor = IDS, mask: torch.Tensor = MASK) -> torch.Tensor:
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).logits
    return out.float() * mask[..., None]  # padded positions carry no meaning


def make_spm_model(out: Path) -> Path:
    """A tiny Llama with a SentencePiece-style tokenizer (BPE with byte fallback, "▁" for spaces, <s>
    prepended), built like Llama 2's and Mistral's tokenizer.json, saved as a full model folder."""
    import json as _json

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from whetstone_fixtures.tiny import corpus_lines

    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")  # learn pieces within words, as sentencepiece does
    tok.train_from_iterator(corpus_lines()[:400], trainers.BpeTrainer(vocab_size=700, special_tokens=specials, show_progress=False))
    spec = _json.loads(tok.to_str())
    spec["pre_tokenizer"] = None  # Llama's tokenizer.json has none: "▁" comes from the normalizer
    # Llama's layout: specials, then the 256 byte tokens, then the learned pieces.
    learned = [t for t, _ in sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1]) if t not in specials]
    order = specials + [f"<0x{b:02X}>" for b in range(256)] + [t for t in learned if not (len(t) == 6 and t.startswith("<0x"))]
    spec["model"]["vocab"] = {t: i for i, t in enumerate(order)}
    spec["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                              "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                       {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                              "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_json.dumps(spec)), bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", chat_template="{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}</s>{% endfor %}")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(order), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         intermediate_size=64, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out
