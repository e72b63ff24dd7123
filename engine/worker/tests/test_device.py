"""device.py: hello's device description and the precision table (CPU here; CUDA rules by device stub)."""

from __future__ import annotations

import pytest
import torch

from whetstone_worker import device as device_module
from whetstone_worker.device import choose_precision, describe_device
from whetstone_worker.errors import WorkerError

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda", 0), torch.device("mps")


def test_describe_device_on_cpu():
    info = describe_device()
    assert info["kind"] == "cpu" and info["count"] == 1 and info["bf16"] is False and info["capability"] is None
    assert isinstance(info["name"], str) and info["name"]


def test_cpu_trains_in_fp32_and_refuses_fp16():
    p = choose_precision("auto", "auto", "lora", CPU)
    assert (p.weights, p.autocast, p.grad_scaler) == (torch.float32, None, False)
    assert choose_precision("bf16", "auto", "lora", CPU).autocast == torch.bfloat16
    with pytest.raises(WorkerError) as info:
        choose_precision("fp16", "auto", "lora", CPU)
    assert info.value.code == "CONFIG_INVALID"


@pytest.mark.parametrize(
    "precision, dtype, finetune, bf16, expected",
    [
        ("auto", "auto", "lora", True, (torch.bfloat16, torch.bfloat16, False)),  # frozen base stored in bf16
        ("auto", "auto", "full", True, (torch.float32, torch.bfloat16, False)),  # fp32 master weights
        ("auto", "auto", "lora", False, (torch.float32, None, False)),  # pre-Ampere: plain fp32
        ("fp16", "auto", "lora", False, (torch.float16, torch.float16, True)),
        ("fp32", "bfloat16", "lora", True, (torch.bfloat16, None, False)),  # explicit dtype wins
    ],
)
def test_cuda_rules(monkeypatch, precision, dtype, finetune, bf16, expected):
    monkeypatch.setattr(device_module, "bf16_fast", lambda device: bf16)
    p = choose_precision(precision, dtype, finetune, CUDA)
    assert (p.weights, p.autocast, p.grad_scaler) == expected


def test_refusals(monkeypatch):
    monkeypatch.setattr(device_module, "bf16_fast", lambda device: False)
    for args in (("bf16", "auto", "lora", CUDA), ("bf16", "auto", "lora", MPS), ("auto", "float16", "full", CPU)):
        with pytest.raises(WorkerError):
            choose_precision(*args)
    assert choose_precision("auto", "auto", "lora", MPS).autocast is None
