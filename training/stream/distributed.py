"""The process group of a ``torchrun`` job, DistributedDataParallel, and the few collectives the trainer needs.

``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address of every process; without
them (``python -m training.stream train``) the job is one process and every collective is a no-op, so
the same trainer runs both ways. Backends: ``gloo`` on CPUs (it has a sparse all-reduce, which the
sparse embedding table's gradients need), ``nccl`` on GPUs (dense gradients only).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Cluster:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: one process, no process group
    device: torch.device = CPU

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, exports and publishes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def start(backend: str, device: str = "cpu") -> Cluster:
    """Join the process group ``torchrun`` describes in the environment (or run alone without it)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = torch.device(f"cuda:{local_rank}") if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(target)
    if world_size <= 1:
        return Cluster(device=target)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Cluster(dist.get_rank(), dist.get_world_size(), local_rank, backend, target)


def stop(cluster: Cluster) -> None:
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, cluster: Cluster) -> nn.Module:
    """``module`` under DistributedDataParallel (which broadcasts rank 0's weights once, then averages
    every gradient, sparse ones included, across ranks); the module itself when alone."""
    if not cluster.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [cluster.device.index] if cluster.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def all_have(flag: bool, cluster: Cluster) -> bool:
    """Whether every rank has ``flag`` set: each training step first agrees that every rank has a batch,
    so the ranks run exactly the same number of gradient all-reduces (an extra one would hang)."""
    if not cluster.distributed:
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=cluster.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def sum_arrays(arrays: list[np.ndarray], cluster: Cluster) -> list[np.ndarray]:
    """Element-wise sums over ranks of numpy arrays (same shapes and dtypes on every rank)."""
    if not cluster.distributed:
        return arrays
    out = []
    for array in arrays:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(cluster.device)
        dist.all_reduce(tensor)
        out.append(tensor.cpu().numpy())
    return out


def gather_objects(value: Any, cluster: Cluster) -> list[Any]:
    """``value`` of every rank, in rank order (pickled between the job's own processes, never stored)."""
    if not cluster.distributed:
        return [value]
    out: list[Any] = [None] * cluster.world_size
    dist.all_gather_object(out, value)
    return out


def object_bytes(value: Any) -> int:
    """Size of ``value`` as :func:`gather_objects` sends it (for the log)."""
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def barrier(cluster: Cluster) -> None:
    if cluster.distributed:
        dist.barrier()
