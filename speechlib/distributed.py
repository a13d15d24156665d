"""Training on several processes (CPU cores, GPUs, machines) with DistributedDataParallel.

Launch any ``speechlib train`` command with ``torchrun`` instead of ``python``/``speechlib``::

    torchrun --nproc_per_node=2 -m speechlib train --model cnn --epochs 5

torchrun starts one process per GPU (or CPU share) and tells each its ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` in environment variables. Each process trains the same model on its own slice of
every epoch (``ClipLoader(rank=..., world_size=...)``); after each backward pass DDP averages the
gradients of all processes, so every copy of the model takes the same step and stays identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .device import pick_device


@dataclass
class Context:
    """Who this process is. ``world_size == 1`` means a plain, single-process run."""

    rank: int
    world_size: int
    device: torch.device
    local_rank: int = 0  # rank among the processes of this machine

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes files, logs and progress bars."""
        return self.rank == 0


def setup(device_preference: str = "auto") -> Context:
    """Join the process group when started by torchrun (NCCL on CUDA, gloo on CPU); otherwise a
    single-process context on ``pick_device(device_preference)``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Context(rank=0, world_size=1, device=pick_device(device_preference))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)  # one GPU per process on each machine
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise RuntimeError(f"multi-process training runs on CUDA or CPU, not {device.type}: pass --device cpu")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(rank=rank, world_size=world_size, device=device, local_rank=local_rank)


def teardown(context: Context) -> None:
    if context.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: Context) -> None:
    """Wait until every process got here (e.g. until rank 0 has built the cache)."""
    if context.world_size > 1:
        dist.barrier()


def average(values: list[float], context: Context) -> list[float]:
    """The mean of ``values`` over all processes (e.g. each rank's epoch loss)."""
    if context.world_size == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)  # sum over processes
    return (tensor / context.world_size).tolist()


def average_buffers(model: torch.nn.Module, context: Context) -> None:
    """Average floating-point buffers (BatchNorm's running mean/variance) over processes.

    DDP keeps the *parameters* identical, but each process updates its running statistics on its own
    batches; averaging them after each epoch gives every copy the statistics of all the data.
    """
    if context.world_size == 1:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= context.world_size
