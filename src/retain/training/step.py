"""One optimisation step of the task loop, and the epoch's running record of what the steps logged.

A step takes this rank's shard of the batch, puts the images in channels_last when asked, runs the
algorithm's `training_step` under bf16 autocast when asked, scales the loss by the shard's share of the
batch, applies the non-finite policy (`train.on_nan`) and updates the weights. A step reads nothing on
the host except for `skip_batch`'s check of its loss; the epoch's tally is read once, at its end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import torch

from retain.errors import NumericalError
from retain.training.distributed import Distributed, step_function
from retain.training.optim import make_optimizer
from retain.training.progress import TaskProgress

if TYPE_CHECKING:
    from retain.algorithms.base import Algorithm
    from retain.config import TrainConfig
    from retain.scenarios.task import Task
    from retain.training.batch import Batch


def check_skipped(skipped: int, batches: int, task: Task, epoch: int) -> None:
    """Raise `NumericalError` when `train.on_nan=skip_batch` skipped every batch of an epoch: the model
    learns nothing, and going on would only hide it."""
    if batches and skipped >= batches:
        raise NumericalError(
            f"every batch of task {task.id}, epoch {epoch} ({skipped} of {batches}) had a non-finite loss and "
            f"was skipped (train.on_nan=skip_batch): the model is not learning; lower train.optimizer.lr and "
            f"resume with --resume RUN --force"
        )


def skip_warning(skipped: int, batches: int, task: Task, fraction: float) -> str | None:
    """The warning for a task that skipped more than `fraction` of its batches (None: within it)."""
    if batches and skipped > fraction * batches:
        return (
            f"task {task.id} skipped {skipped} of {batches} batches ({skipped / batches:.0%}) for a non-finite "
            f"loss (train.on_nan=skip_batch; warned above train.skip_warn_fraction={fraction:g}): its "
            f"accuracy may mean little; a lower train.optimizer.lr usually helps"
        )
    return None


def check_finite(first_bad: float, task: Task, epoch: int) -> None:
    """Raise `NumericalError` naming the first non-finite step of the epoch (`first_bad` < 0: none)."""
    if first_bad >= 0:
        raise NumericalError(
            f"non-finite loss at task {task.id}, epoch {epoch}, step {int(first_bad) + 1} (1-based): the run "
            f"stopped; the checkpoint of the last good task is kept (lower train.optimizer.lr, or set "
            f"train.on_nan=skip_batch, then resume with --resume RUN --force)"
        )


class EpochTally:
    """One epoch's sums of the logged terms over the samples of its steps, on the device.

    Also records the first step whose loss was not finite (-1: none yet), the batches skipped for one,
    and the shuffling generator's state at the start of the epoch (so that a checkpoint inside the
    epoch can replay its order).
    """

    def __init__(
        self,
        device: torch.device,
        generator_state: torch.Tensor,
        sums: dict[str, torch.Tensor],
        counted: int,
        skipped: int,
    ) -> None:
        self.device, self.generator_state = device, generator_state
        self.sums, self.counted, self.skipped = sums, counted, skipped
        self.first_bad = torch.full((), -1.0, device=device)

    def add(self, out: dict[str, torch.Tensor], n: int) -> None:
        """Add a step's terms, weighted by its `n` samples (0 for a rank that only joined the exchange)."""
        self.counted += n
        for key, value in out.items():
            if key != "preds":  # sums stay on the device: no host sync per step
                self.sums[key] = self.sums.get(key, 0.0) + value.detach() * n

    def record_non_finite(self, loss: torch.Tensor, step: int) -> None:
        """Remember `step` if its loss is the epoch's first non-finite one, on the device (no host sync)."""
        first_bad = self.first_bad
        self.first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss.detach()), float(step), first_bad)

    def progress(self, epochs_done: int, step: int, optimizer: dict[str, Any], seconds: float) -> TaskProgress:
        """The task's progress before `step` of this epoch, for a checkpoint taken inside the epoch."""
        return TaskProgress(
            epochs_done, step, optimizer, self.generator_state, self.sums, self.counted, self.skipped, seconds
        )

    def means(self, ranks: Distributed, task: Task, epoch: int) -> dict[str, float]:
        """The epoch's mean of every term over the whole batch of all ranks, read in one host sync; raises
        `NumericalError` if a step's loss was not finite."""
        sums, counted, first_bad = self.sums, self.counted, self.first_bad
        if ranks.active:  # every rank logs the whole batch's means
            totals = ranks.sum_(torch.stack([*sums.values(), torch.tensor(float(counted), device=self.device)]))
            sums, counted = dict(zip(sums, totals[:-1])), int(totals[-1].item())
            ranks.max_(first_bad)
        *means, bad = torch.stack([*sums.values(), first_bad]).tolist() if sums else [first_bad.item()]
        check_finite(bad, task, epoch)
        return dict(zip(sums, [m / max(counted, 1) for m in means]))


class Step:
    """The optimisation step of one task, with the task's fresh optimizer.

    Non-finite losses: `train.on_nan = stop` records the first bad step on the device and the epoch's
    `means` raises, before any checkpoint of that epoch is written; `skip_batch` checks each loss on
    the host (one sync per step) and skips that update.
    """

    def __init__(self, algorithm: Algorithm, cfg: TrainConfig, ranks: Distributed, device: torch.device) -> None:
        self.forward = step_function(algorithm, ranks)
        self.optimizer = make_optimizer(algorithm.model, cfg.optimizer)
        self.ranks, self.channels_last = ranks, cfg.channels_last
        self.skip_bad = cfg.on_nan == "skip_batch"
        bf16 = cfg.precision == "bf16"  # forward under autocast; backward and optimizer step in float32
        self.autocast = (
            functools.partial(torch.autocast, device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext
        )

    def __call__(self, batch: Batch, task: Task, step: int, tally: EpochTally) -> None:
        batch, share = self.ranks.shard(batch)
        if self.channels_last and batch.x.dim() == 4:
            batch = dataclasses.replace(batch, x=batch.x.contiguous(memory_format=torch.channels_last))
        with self.autocast():
            out = self.forward(batch, task)
        loss = out["loss"] if share == 1.0 else out["loss"] * share
        if self.skip_bad and not bool(torch.isfinite(loss)):  # host sync: the price of skip_batch
            tally.skipped += 1
            return
        if not self.skip_bad:
            tally.record_non_finite(loss, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        tally.add(out, len(batch.y) if share else 0)

    def epoch_terms(self, tally: EpochTally, task: Task, epoch: int) -> dict[str, float]:
        """What the epoch logs: the terms' means and, with `skip_batch`, the batches skipped."""
        terms = tally.means(self.ranks, task, epoch)
        if self.skip_bad:
            terms["skipped_batches"] = float(tally.skipped)
        return terms
