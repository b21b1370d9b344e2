"""Data-parallel training across processes started by `torchrun` (DDP: gloo on CPU, nccl on GPU).

Every rank builds the same model, teachers and data from the same seed and draws the same batch order;
each trains on its shard of every global batch (rank r takes samples r, r + W, r + 2W, ...) through
`torch.nn.parallel.DistributedDataParallel`, which averages the gradients. Each rank's loss is scaled by
its shard's share of the batch, so the averaged gradient is exactly that of the whole batch's mean loss.
Evaluation is sharded the same way and the correct counts are all-reduced. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import gc
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

from retain.errors import ConfigError
from retain.training.batch import Batch

if TYPE_CHECKING:
    from retain.algorithms.base import Algorithm
    from retain.scenarios.task import Task

StepFn = Callable[[Batch, "Task"], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Distributed:
    """This process's place among the data-parallel ranks (a single process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, batch: Batch) -> tuple[Batch, float]:
        """This rank's part of a global batch, and the factor that makes DDP's gradient average equal the
        gradient of the whole batch's mean loss. A rank left without a sample (a last batch smaller than
        the world size) takes one sample with factor 0, so that every rank joins the gradient exchange."""
        if not self.active:
            return batch, 1.0
        local = _take(batch, slice(self.rank, None, self.world_size))
        if len(local.y) == 0:
            return _take(batch, slice(0, 1)), 0.0
        return local, len(local.y) * self.world_size / len(batch.y)

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over the ranks, in place (no-op for one process)."""
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def max_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor


def _take(batch: Batch, part: slice) -> Batch:
    def pick(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[part]

    return replace(batch, x=batch.x[part], y=batch.y[part], task_ids=pick(batch.task_ids), index=pick(batch.index))


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[tuple[Distributed, torch.device]]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1) and leave it afterwards; yields
    the context and the device of this rank (`cuda:LOCAL_RANK` on GPUs).

    Only the call that created the group destroys it (a run nested in another, e.g. an unlearning
    reference, shares it). On a normal exit the ranks meet at a barrier first: a rank that left while
    rank 0 was still writing the run folder would tear down the gloo threads under it (SIGABRT), and the
    DDP wrappers are freed before the group (`release_wrappers`)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Distributed(), device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Distributed(dist.get_rank(), dist.get_world_size()), device
        if owner:
            dist.barrier()
    finally:
        if owner:
            release_wrappers()
            dist.destroy_process_group()


def release_wrappers() -> None:
    """Free the DDP wrappers of finished tasks now. Their reducers sit in reference cycles, so without a
    collection they would keep their gradient buckets (memory) and the process group alive until the
    interpreter shuts down, where gloo's threads then abort the process (SIGABRT at exit)."""
    gc.collect()


def synchronise_batchnorm(model: nn.Module, context: Distributed, device: torch.device, mode: bool | str) -> bool:
    """Make the backbone's BatchNorm layers compute their batch statistics over the whole global batch
    (`torch.nn.SyncBatchNorm`) when training data-parallel; returns whether it did.

    With plain BatchNorm each rank normalises by the statistics of its own shard, so a run on W ranks
    is not the run on one process with the same global batch. PyTorch implements SyncBatchNorm for
    CUDA only: on CPU ranks (gloo) `mode="auto"` keeps per-rank statistics with a warning and
    `mode=True` is refused. Parameter and buffer names are unchanged, so checkpoints, snapshots and
    `model.pt` read the same either way."""
    has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if mode is False or not context.active or not has_batchnorm:
        return False
    if device.type != "cuda":
        if mode is True:
            raise ConfigError(
                "train.sync_batchnorm", True, "auto or false on CPU ranks: PyTorch's SyncBatchNorm needs CUDA"
            )
        warnings.warn(
            f"rank {context.rank}: BatchNorm statistics are computed per rank on CPU (SyncBatchNorm needs CUDA); "
            "the run will differ from one process with the same global batch",
            stacklevel=2,
        )
        return False
    backbone = model.get_submodule("backbone")
    model.backbone = nn.SyncBatchNorm.convert_sync_batchnorm(backbone)
    return True


class _Step(nn.Module):
    """Makes `algorithm.training_step` the forward of a module, so that DDP sees every parameter it uses."""

    def __init__(self, algorithm: Algorithm) -> None:
        super().__init__()
        self.model = algorithm.model
        self.algorithm = [algorithm]  # a list: not a submodule (its teachers are not trained)

    def forward(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        return self.algorithm[0].training_step(batch, task)


def step_function(algorithm: Algorithm, context: Distributed) -> StepFn:
    """The training step of one task: the algorithm's own, or the same step wrapped in DDP.

    Built per task because the heads grow; after the first task old heads may get no gradient
    (`find_unused_parameters`)."""
    if not context.active:
        return algorithm.training_step
    later_task = algorithm.model.heads.num_tasks > 1
    return nn.parallel.DistributedDataParallel(_Step(algorithm), find_unused_parameters=later_task)
