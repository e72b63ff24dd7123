"""Training on several processes of one node (issue #21): torchrun starts one worker per GPU (gloo on
the CPU, which is how the tests run it), and they train one run together.

Rank 0 is the worker the engine talks to: it reads the commands, says hello and emits every event.
Ranks above 0 never touch the protocol: rank 0 broadcasts each training command to them, and they
run the same recipe with their events dropped. Each optimizer step's micro-batches are dealt out
round-robin (rank r takes micro-batches r, r + W, …), so the global batch and the data order are the
single-device run's; each rank scales its loss by the whole step's trained tokens, and the gradients
are summed across ranks before clipping (one flattened all-reduce: the adapter's, or every weight's
for full fine-tuning, replicated as in DDP), so every rank takes the same optimizer step. A cancel is
a collective flag, so all ranks stop at the same step; only rank 0 writes checkpoints and outputs.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


_WORLD: World | None = None


def from_env() -> World | None:
    """The world torchrun describes in the environment, or None for a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def init(world: World) -> World:
    """Join the process group: NCCL on GPUs (one per local rank), gloo on the CPU."""
    global _WORLD
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(world.local_rank)
    # Followers wait in a broadcast for rank 0's next command while it reads the engine's: allow a long wait.
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    _WORLD = world
    return world


def current() -> World | None:
    """This process's world, once init() ran; None for a single process."""
    return _WORLD


def broadcast(obj: Any = None) -> Any:
    """Rank 0's object on every rank (pickled)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: Callable[[], bool]) -> Callable[[], bool]:
    """`flag` asked on every rank, true when it is true on any (each call is a collective: every rank calls it alike)."""

    def collective() -> bool:
        value = torch.tensor([1 if flag() else 0], dtype=torch.int32, device=_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    return collective


def sum_all(value: float) -> float:
    """The sum of `value` over the ranks, in float64 (a step's loss is the sum of each rank's share)."""
    t = torch.tensor([value], dtype=torch.float64, device=_device())
    dist.all_reduce(t)
    return float(t.item())


def all_reduce_grads(params: list[torch.nn.Parameter]) -> None:
    """Sum the gradients over the ranks, in one flattened all-reduce (a rank without a micro-batch this
    step contributes zeros)."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch._utils._flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    for g, reduced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
        g.copy_(reduced)


def _device() -> torch.device:
    """Where small collective tensors live: NCCL reduces GPU tensors only."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def barrier() -> None:
    dist.barrier()


def shard(items: list, world: World | None) -> list:
    """This rank's share of a step's micro-batches: every W-th, starting at its rank."""
    return items if world is None else items[world.rank :: world.size]
