"""`python -m whetstone_worker.data.preview`: the worker's view of a dataset, for the engine.

Two jobs, both thin wrappers over the code training uses (nothing here re-implements a rule):

- `--data FILE --model DIR [--max-length N] [--overlong P] [--goldfish JSON]`: run build_samples
  (chat template, prefix-diff masks, overlong and no-trained-token policies) on a JSONL file of
  conversations and print, as one JSON object, each kept sample's line, token ids, trained mask,
  goldfish drop mask and the labels training would use, plus the data report. The engine's
  cross-language test compares this with its own preview, token for token. `--settings JSON`
  (a list of {max_length, overlong, goldfish}) runs several settings in one process and prints a
  list, because importing torch costs seconds.
- `--export-goldfish-table PATH`: write the hashed goldfish variant's table (1,000,003 float32
  uniforms from torch's CPU generator, little-endian) so the engine can read it instead of
  re-implementing torch's Mersenne Twister and its float conversion.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..config import GoldfishConfig
from ..losses.goldfish import TABLE_SEED, TABLE_SIZE, goldfish_drop_mask, hash_table
from .batches import sample_labels
from .chat import build_samples
from .pairs import build_pairs


def export_goldfish_table(path: Path) -> Path:
    """Write the table atomically (temp file, fsync, rename): readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = hash_table().numpy().astype("<f4").tobytes()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def preview(tokenizer, data: Path, max_length: int, overlong: str, goldfish: GoldfishConfig | None) -> dict:
    samples, report = build_samples(tokenizer, data, max_length, overlong)
    out = []
    for sample in samples:
        dropped = goldfish_drop_mask(sample.ids, goldfish).numpy() if goldfish else np.zeros(len(sample.ids), bool)
        out.append(
            {
                "line": sample.line,
                "ids": sample.ids.tolist(),
                "trained": sample.trained.astype(int).tolist(),
                "dropped": (dropped & sample.trained).astype(int).tolist(),
                "labels": sample_labels(sample, dropped if goldfish else None).tolist(),
            }
        )
    return {
        "samples": out,
        "report": {"read": report.read, "kept": report.kept, "truncated": report.truncated, "dropped": dict(report.dropped)},
    }


def preview_pairs(tokenizer, data: Path, max_length: int, overlong: str) -> dict:
    """build_pairs' view of a snapshot of pairs: each kept pair's two sides (ids, trained mask)."""
    pairs, report = build_pairs(tokenizer, data, max_length, overlong)
    side = lambda s: {"ids": s.ids.tolist(), "trained": s.trained.astype(int).tolist()}  # noqa: E731
    return {
        "pairs": [{"line": p.line, "chosen": side(p.chosen), "rejected": side(p.rejected)} for p in pairs],
        "report": {"read": report.read, "kept": report.kept, "truncated": report.truncated, "dropped": dict(report.dropped)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whetstone_worker.data.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export-goldfish-table", type=Path, help="write the hashed goldfish table to this file")
    parser.add_argument("--data", type=Path, help="JSONL of {messages: [...]} conversations")
    parser.add_argument("--model", type=Path, help="model folder (its tokenizer and chat template are used)")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--overlong", choices=["drop", "truncate", "error"], default="drop")
    parser.add_argument("--goldfish", help='goldfish config as JSON, e.g. {"k": 4, "h": 13, "variant": "hashed"}')
    parser.add_argument("--settings", help="JSON list of {max_length, overlong, goldfish}: one result per entry")
    parser.add_argument("--pairs", action="store_true", help="the data is preference pairs: run build_pairs instead")
    args = parser.parse_args(argv)
    if args.export_goldfish_table:
        path = export_goldfish_table(args.export_goldfish_table)
        print(json.dumps({"path": str(path), "size": TABLE_SIZE, "seed": TABLE_SEED}))
        return 0
    if not args.data or not args.model:
        parser.error("--data and --model are required (or --export-goldfish-table)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..modeling import load_tokenizer

    tokenizer = load_tokenizer(args.model, trust_remote_code=False)
    if args.pairs:
        settings = json.loads(args.settings) if args.settings else [{"max_length": args.max_length, "overlong": args.overlong}]
        result = [preview_pairs(tokenizer, args.data, s["max_length"], s["overlong"]) for s in settings]
    elif args.settings:
        result = [
            preview(tokenizer, args.data, s["max_length"], s["overlong"], GoldfishConfig(**s["goldfish"]) if s.get("goldfish") else None)
            for s in json.loads(args.settings)
        ]
    else:
        goldfish = GoldfishConfig(**json.loads(args.goldfish)) if args.goldfish else None
        result = preview(tokenizer, args.data, args.max_length, args.overlong, goldfish)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
