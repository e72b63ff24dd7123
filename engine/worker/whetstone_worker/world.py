"""Which rank of a run on several processes this worker is (distributed.py), without importing torch:
the server and the entry point ask before anything else, and a worker that only reaches the hub
(a pull, a push) never loads torch at all."""

from __future__ import annotations

import os
from dataclasses import dataclass


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


def current() -> World | None:
    """This process's world, once distributed.init() joined it; None for a single process."""
    return _WORLD


def joined(world: World) -> None:
    """Recorded by distributed.init() once the process group is up."""
    global _WORLD
    _WORLD = world
