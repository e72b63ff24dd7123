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
from typing import Any, Callable

import torch
import torch.distributed as dist

from .world import World, current, from_env, joined  # noqa: F401  (current, from_env: this module's API too)


def init(world: World) -> World:
    """Join the process group: NCCL on GPUs (one per local rank), gloo on the CPU."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(world.local_rank)
    # Followers wait in a broadcast for rank 0's next command while it reads the engine's: allow a long wait.
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    joined(world)
    return world


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


def gather(items: list) -> list:
    """Every rank's list, concatenated in rank order, on every rank (pickled: detached CPU tensors)."""
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, items)
    return [x for part in out for x in part]


def barrier() -> None:
    dist.barrier()


def shard(items: list, world: World | None) -> list:
    """This rank's share of a step's micro-batches: every W-th, starting at its rank."""
    return items if world is None else items[world.rank :: world.size]


# ---------------------------------------------------------------- full fine-tuning: FSDP2


class Sharded(torch.nn.Module):
    """The root FSDP2 unit around a model: `sharded(fn, *args)` runs `fn(model, *args)` inside the root's
    forward. So the root's own parameters (embeddings, final norm, output head) are gathered for
    whatever the loss reads, and their gradients reduce-scattered after its backward, however the loss
    reaches into the model (the chunked loss calls the decoder and the head separately)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(self.model, *args)


def shard_model(model: torch.nn.Module, device: torch.device) -> Sharded:
    """Shard `model` over the ranks with FSDP2 (`fully_shard`): each decoder layer is a unit (its full
    parameters exist only while it runs, the next one's prefetched), the rest is the root. Parameters,
    gradients and AdamW's moments are 1/W per rank. Gradients are averaged across ranks (gloo has no
    pre-scaled sum), so `backward` scales the loss by W."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from .errors import WorkerError

    names = set(getattr(model, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise WorkerError("CONFIG_INVALID", f"{type(model).__name__} does not name its decoder layers (_no_split_modules), so it cannot be sharded.",
                          "Train this model on one device, or with LoRA (which replicates the model on every device).", recoverable=False)
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    root = Sharded(model)
    fully_shard(root, mesh=mesh)
    return root


def full_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The sharded model's whole state dict on rank 0's CPU ({} on the other ranks); a collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The sharded optimizer's whole state on rank 0 ({} elsewhere), keyed by parameter index as a
    single process's `optimizer.state_dict()` is: a checkpoint resumes on any number of processes."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    by_name = get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not by_name:
        return {}
    index, groups = {}, []
    for group in by_name["param_groups"]:
        for name in group["params"]:
            index[name] = len(index)
        groups.append({**group, "params": [index[name] for name in group["params"]]})
    return {"state": {index[name]: value for name, value in by_name["state"].items()}, "param_groups": groups}


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load a single-process style (index-keyed) optimizer state into the sharded optimizer: each rank
    keeps its shard of every moment."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = {id(p): name for name, p in model.named_parameters()}
    if len(saved["param_groups"]) != len(optimizer.param_groups):
        raise ValueError(f"the optimizer state has {len(saved['param_groups'])} parameter groups, the model {len(optimizer.param_groups)}")
    name_of, groups = {}, []
    for old, new in zip(saved["param_groups"], optimizer.param_groups):
        if len(old["params"]) != len(new["params"]):
            raise ValueError(f"the optimizer state has {len(old['params'])} parameters in a group, the model {len(new['params'])}")
        for i, p in zip(old["params"], new["params"]):
            name_of[i] = names[id(p)]
        groups.append({**old, "params": [name_of[i] for i in old["params"]]})
    by_name = {"state": {name_of[i]: value for i, value in saved["state"].items()}, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, by_name, options=StateDictOptions(full_state_dict=True))
