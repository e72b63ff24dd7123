"""The local judge in the worker, for grpo's `judge` reward: the same judge, prompt and verdict reading as
the engine's evaluation (engine/judge/prompt.ts and onnx-judge.ts), so a reward and a later win rate
agree on what "better" means.

The judge is a causal LM in the transformers.js layout (config.json, tokenizer files, onnx/model.onnx),
run with onnxruntime and the folder's tokenizer and chat template. PandaLM's format: the judge sees an
instruction and two responses and answers "1", "2" or "Tie"; the verdict is its next-token distribution
at the verdict tokens right after the assistant turn opens, from one forward pass. Both orders are
judged and averaged after swapping the second back (position bias cancels); the preference for the
first response is P(win) + 0.5·P(tie). The prompt text and the spellings are the engine's, checked
equal by both test suites against tests/fixtures/judge/prompt-v1.json, and the probabilities are
checked equal to the engine's on the tiny judge (tests/engine/grpo/judge-reward.test.ts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import WorkerError

CRITERIA = ("instruction following", "correctness", "helpfulness", "conciseness", "clarity")
VERDICTS = ("1", "2", "Tie")
SPELLINGS = {"1": ["1", " 1"], "2": ["2", " 2"], "Tie": ["Tie", " Tie", "tie", " tie", "TIE"]}
MAX_RESPONSE_CHARS = 4000
ONNX_FILES = ("model.onnx", "model_quantized.onnx", "model_int8.onnx", "model_uint8.onnx", "model_fp16.onnx", "model_q4.onnx")


def judge_messages(instruction: str, first: str, second: str, max_chars: int = MAX_RESPONSE_CHARS) -> list[dict]:
    """The pairwise judging prompt (engine/judge/prompt.ts judgeMessages)."""

    def cut(text: str) -> str:
        # JavaScript's length and slice count UTF-16 code units: cut at the same place.
        units = text.encode("utf-16-le")
        return units[: 2 * max_chars].decode("utf-16-le", errors="ignore") + " [… cut]" if len(units) > 2 * max_chars else text

    return [
        {
            "role": "system",
            "content": "You are a careful, impartial judge of AI assistant responses. Compare two responses to the same instruction on "
            f"{', '.join(CRITERIA)}. Ignore the order in which they appear and do not prefer a response for being longer. "
            'Reply with exactly one of: "1" if Response 1 is better, "2" if Response 2 is better, "Tie" if they are equally good.',
        },
        {
            "role": "user",
            "content": f"### Instruction:\n{instruction}\n\n### Response 1:\n{cut(first)}\n\n### Response 2:\n{cut(second)}\n\n"
            "### Which response is better? Answer 1, 2 or Tie.",
        },
    ]


def normalize(raw: dict[str, float]) -> dict[str, float]:
    mass = raw["1"] + raw["2"] + raw["Tie"]
    if not mass > 0:
        return {"first": 1 / 3, "second": 1 / 3, "tie": 1 / 3, "mass": 0.0}
    return {"first": raw["1"] / mass, "second": raw["2"] / mass, "tie": raw["Tie"] / mass, "mass": mass}


def preference(model_first: dict[str, float], baseline_first: dict[str, float]) -> float:
    """P(win) + 0.5·P(tie) of the model's response, from both orders (engine/judge/prompt.ts combine)."""
    win = (model_first["first"] + baseline_first["second"]) / 2
    tie = (model_first["tie"] + baseline_first["tie"]) / 2
    return win + 0.5 * tie


def onnx_file(folder: Path) -> Path | None:
    for name in ONNX_FILES:
        if (folder / "onnx" / name).is_file():
            return folder / "onnx" / name
    return None


class OnnxJudge:
    """A judge folder loaded once: tokenizer, chat template, ONNX session and the verdict token ids."""

    def __init__(self, folder: str | Path):
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        file = onnx_file(self.folder)
        if not (self.folder / "config.json").is_file() or file is None:
            raise WorkerError("JUDGE_NOT_FOUND", f"No judge model at {self.folder}: it needs config.json and onnx/model.onnx.",
                              "Point the judge reward at a judge folder in the transformers.js layout (e.g. one made by `whetstone export RUN --format onnx`), or leave it out for the default judge.")
        import onnxruntime as ort

        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder), local_files_only=True)
        if not self.tokenizer.chat_template:
            raise WorkerError("JUDGE_NO_TEMPLATE", f"The judge at {self.folder} has no chat template.", "Use an instruct (chat) model as the judge.")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Its threads wait without spinning, as the engine's judge does (engine/judge/onnx-judge.ts): a
        # spinning one holds a core the training beside it in this process needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        import json

        self.config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        self.verdict_ids = self._verdict_ids()

    def _verdict_ids(self) -> dict[str, list[int]]:
        first = {v: sorted({ids[0] for s in SPELLINGS[v] if (ids := self.tokenizer.encode(s, add_special_tokens=False))}) for v in VERDICTS}
        count: dict[int, int] = {}
        for v in VERDICTS:
            for i in first[v]:
                count[i] = count.get(i, 0) + 1
        ids = {v: [i for i in first[v] if count[i] == 1] for v in VERDICTS}
        missing = [v for v in VERDICTS if not ids[v]]
        if missing:
            raise WorkerError("JUDGE_TOKENS", f"The judge at {self.folder} cannot tell the verdicts apart: no token of its own starts {', '.join(repr(m) for m in missing)}.",
                              "Use another judge model (any instruct model with a usual tokenizer works).")
        return ids

    def encode(self, messages: list[dict]) -> list[int]:
        try:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - some templates (Gemma's) refuse a system turn: fold it into the user turn
            system, *rest = messages
            rest[0] = {**rest[0], "content": f"{system['content']}\n\n{rest[0]['content']}"}
            text = self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
        return self.tokenizer.encode(text, add_special_tokens=False)

    def order(self, messages: list[dict]) -> dict[str, float]:
        """The normalized verdict distribution of one order, from one forward pass."""
        ids = self.encode(messages)
        n, cfg = len(ids), self.config
        feeds = {}
        for meta in self.session.get_inputs():
            name = meta.name
            if name == "input_ids":
                feeds[name] = np.asarray([ids], dtype=np.int64)
            elif name == "attention_mask":
                feeds[name] = np.ones((1, n), dtype=np.int64)
            elif name == "position_ids":
                feeds[name] = np.arange(n, dtype=np.int64)[None]
            elif name.startswith("past_key_values"):
                heads = cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
                head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
                dtype = np.float16 if "float16" in meta.type else np.float32
                feeds[name] = np.zeros((1, heads, 0, head_dim), dtype=dtype)
            else:
                raise WorkerError("JUDGE_UNSUPPORTED", f"The judge's ONNX graph has an input '{name}' Whetstone does not know how to fill.",
                                  "Use a decoder-only text-generation export (inputs input_ids, attention_mask, position_ids, past_key_values.*).")
        logits = self.session.run(["logits"], feeds)[0][0, -1].astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return normalize({v: float(p[self.verdict_ids[v]].sum()) for v in VERDICTS})

    def prefer(self, instruction: str, answer: str, reference: str) -> float:
        """How much the judge prefers `answer` to `reference` for `instruction`, in [0, 1]: both orders."""
        return preference(self.order(judge_messages(instruction, answer, reference)), self.order(judge_messages(instruction, reference, answer)))
