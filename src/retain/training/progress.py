"""How far a run got: the results of the finished tasks, the task in progress, and where to resume.

`retain.runs.checkpoint` writes these to a run folder and `retain.runs.resume` reads them back; the
loop only asks them which tasks are left and where the first of them, and its epoch, start again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from retain.scenarios.task import Task
    from retain.training.placement import DataPath


@dataclass
class SequenceResult:
    """The accuracy matrix (row t−1 holds the t accuracies after task t), training time per task, the
    data path used (and why), and with a validation split the epoch kept for each task."""

    accuracy_matrix: list[list[float]] = field(default_factory=list)
    train_seconds_per_task: list[float] = field(default_factory=list)
    data_path: DataPath | None = None
    best_epoch_per_task: list[int] = field(default_factory=list)
    skipped_batches_per_task: list[int] = field(default_factory=list)  # train.on_nan=skip_batch


@dataclass
class TaskProgress:
    """How far the training of one task got, with what continuing it exactly needs.

    Attributes:
        epoch: epochs finished.
        step: steps finished in epoch `epoch + 1` (0 at an epoch boundary).
        optimizer: the optimizer's `state_dict()` (momentum buffers, Adam moments).
        generator_state: the shuffling generator's state at the start of epoch `epoch + 1`, so that
            the epoch's order can be drawn again and its first `step` batches skipped.
        sums: the running sums of the logged terms over the finished steps of that epoch.
        counted: samples in `sums`; skipped: batches skipped for a non-finite loss in that epoch.
        skipped_before: batches skipped in the task's finished epochs.
        seconds: training time spent on the task so far.
    """

    epoch: int = 0
    step: int = 0
    optimizer: dict[str, Any] | None = None
    generator_state: torch.Tensor | None = None
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counted: int = 0
    skipped: int = 0
    seconds: float = 0.0
    skipped_before: int = 0

    def epoch_start(self, epoch: int) -> tuple[int, dict[str, torch.Tensor], int, int]:
        """Where epoch `epoch` starts: its first step, running sums, counted samples and skipped batches.

        The epoch this progress stopped inside continues from there; any later epoch starts afresh.
        """
        if epoch == self.epoch + 1:
            return self.step, dict(self.sums), self.counted, self.skipped
        return 0, {}, 0, 0


@dataclass
class ResumePoint:
    """Where a resumed run starts: the results of the finished tasks and, optionally, a task in progress."""

    result: SequenceResult = field(default_factory=SequenceResult)
    progress: TaskProgress | None = None

    @property
    def tasks_done(self) -> int:
        return len(self.result.accuracy_matrix)

    def finished(self, tasks: Sequence[Task]) -> Sequence[Task]:
        """The tasks trained and tested before the run stopped."""
        return tasks[: self.tasks_done]

    def unfinished(self, tasks: Sequence[Task]) -> list[tuple[Task, TaskProgress | None]]:
        """The tasks left to train, in order, each with how far it got: only the first can be in progress
        (its head then exists and its `on_task_start` has run)."""
        return [(task, self.progress if i == 0 else None) for i, task in enumerate(tasks[self.tasks_done :])]
