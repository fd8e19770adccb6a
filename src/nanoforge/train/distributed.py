"""Running under `torchrun`: the process group, this process's rank, and a few collectives.

    with distributed() as dist:          # reads RANK, WORLD_SIZE, LOCAL_RANK from torchrun
        train(..., rank=dist.rank, world_size=dist.world_size)

When `WORLD_SIZE` is unset or 1 nothing happens: no process group, rank 0 of 1, and every
helper below is a no-op (`all_reduce_mean` returns its input unchanged). With more than one
process, the group uses NCCL when CUDA is available (each process on `cuda:LOCAL_RANK`)
and gloo otherwise, and is destroyed when the block exits.

Every collective (`all_reduce_*`, `barrier`) must be entered by all ranks, in the same
order; the training loop calls them at points every rank reaches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nanoforge.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among `world_size`, and its rank on this node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer (got {raw!r})") from None


def env_context() -> DistContext:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them (rank 0 of 1 when unset)."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(
            f"RANK={rank} and WORLD_SIZE={world_size} do not fit; launch with torchrun"
        )
    return DistContext(rank, world_size, local_rank)


@contextmanager
def distributed() -> Iterator[DistContext]:
    """Join the process group torchrun describes (if any) for the duration of the block."""
    ctx = env_context()
    if ctx.world_size == 1 or is_initialized():
        # Single process, or a caller (a test, a notebook) already set the group up.
        if is_initialized():
            ctx = DistContext(
                dist.get_rank(), dist.get_world_size(), ctx.local_rank, dist.get_backend()
            )
        yield ctx
        return
    if torch.cuda.is_available():
        backend = "nccl"
        torch.cuda.set_device(ctx.local_rank)
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
    try:
        yield DistContext(ctx.rank, ctx.world_size, ctx.local_rank, backend)
    finally:
        dist.destroy_process_group()


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one that writes files and logs."""
    return rank() == 0


def _device() -> torch.device:
    # NCCL reduces CUDA tensors only; gloo CPU tensors.
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """The element-wise sum of `values` over all ranks (float64), in one collective."""
    if world_size() == 1:
        return [float(v) for v in values]
    tensor = torch.tensor(list(values), dtype=torch.float64, device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def all_reduce_mean(value: float) -> float:
    """The mean of `value` over all ranks (a NaN or inf anywhere makes it non-finite)."""
    n = world_size()
    if n == 1:
        return value
    return all_reduce_sum([value])[0] / n


def barrier() -> None:
    """Wait until every rank gets here."""
    if world_size() > 1:
        dist.barrier()
