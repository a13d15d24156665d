"""Training on several processes (CPU cores, GPUs, machines) with DistributedDataParallel.

Launch any ``speechlib train`` command with ``torchrun`` instead of ``python``/``speechlib``::

    torchrun --nproc_per_node=2 -m speechlib train --model cnn --epochs 5

torchrun starts one process per GPU (or CPU share) and tells each its ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` in environment variables. :func:`speechlib.fit` does the rest: each process trains the
same model on its own share of every epoch (a ``DistributedSampler``, whose shuffle depends on
(seed, epoch) only); after each backward pass DDP averages the gradients of all processes, so every
copy of the model takes the same step and keeps the same weights.

Two things DDP does not decide for us:

- **Augmentation** runs in front of the DDP-wrapped model, not inside it: its background-noise
  recordings (tens of MB on the real set) are never broadcast, and each process seeds torch with
  ``seed + rank``, so each draws its own speeds, rooms, shifts and noises.
- **BatchNorm**: DDP is built with ``broadcast_buffers=False`` and :func:`average_batch_norm` runs
  after every epoch. During the epoch each process normalises with its own batch's statistics (as
  without DDP) and updates its own running statistics; the update ``r <- (1 - m) r + m * batch_mean``
  is linear and every process starts the epoch from the same ``r``, so the mean over processes at
  the end of the epoch *is* the running mean that one process would have reached on the batches of
  all processes taken together, step by step (equal batch sizes: ``DistributedSampler`` gives every
  process the same number of clips). The running variance becomes the mean of the processes' batch
  variances: it leaves out how much the processes' batch means differ from each other (the combined
  batch's variance is that much larger). We chose this over ``SyncBatchNorm`` because
  ``SyncBatchNorm`` runs on GPUs only (it could not be tested on CPU processes) and adds an all-reduce
  per BatchNorm layer per step, while a batch of 64-256 clips per process already estimates the
  statistics well. (DDP's default, ``broadcast_buffers=True``, would instead copy rank 0's
  statistics over every other process's before each step: only rank 0's batches would count, and
  each process's last one.)
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


def total(values: list[float], context: Context) -> list[float]:
    """The sum of ``values`` over all processes (e.g. each rank's summed validation loss and clip count)."""
    if context.world_size == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather(value, context: Context) -> list:
    """Every process's ``value`` (any picklable object), in rank order, in every process."""
    if context.world_size == 1:
        return [value]
    values = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def current(device) -> Context:
    """The context of this process: the process group's rank and size if one was started
    (:func:`setup`, or any ``init_process_group``), else a single process on ``device``."""
    if dist.is_available() and dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return Context(dist.get_rank(), dist.get_world_size(), torch.device(device), local_rank)
    return Context(rank=0, world_size=1, device=torch.device(device))


def wrap(model: torch.nn.Module, context: Context) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when there are several processes (else ``model`` itself).

    DDP copies rank 0's weights and buffers to every process here, so all start equal.
    ``broadcast_buffers=False``: BatchNorm statistics are averaged by :func:`average_batch_norm` instead.
    """
    if context.world_size == 1:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)


def average_batch_norm(model: torch.nn.Module, context: Context) -> None:
    """Average every BatchNorm layer's running mean and variance over the processes.

    What that gives is explained at the top of this module. Other buffers (mel filters, windows) are
    the same in every process and left alone; ``num_batches_tracked`` is the same count everywhere.
    """
    if context.world_size == 1:
        return
    for layer in model.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm) and layer.track_running_stats:
            for statistic in (layer.running_mean, layer.running_var):
                dist.all_reduce(statistic)  # sum over processes
                statistic /= context.world_size
