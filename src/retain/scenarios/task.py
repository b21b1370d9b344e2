"""Frozen task data: what one task of a benchmark holds, and the benchmark as a sequence of tasks.

Task ids are 1-based everywhere in retain (configs, logs, files): task 1 is the first task learnt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from retain.scenarios.setting import reoffset_labels


@dataclass(frozen=True, eq=False)
class Task:
    """One task: its images (uint8, N×C×H×W), labels already remapped for the scenario, and head size.

    `num_classes` is the number of outputs this task needs from its head: TIL and CIL add that many
    outputs; DIL shares one head of that size. `classes` are the source's original class ids.
    `x_val`/`y_val` hold the validation split carved from the training set (`benchmark.val_fraction`),
    None when there is none. `source_id` is the task's id in the benchmark as first built: it equals
    `id` except in a benchmark returned by `Benchmark.without`, where tasks are renumbered 1..k.
    """

    id: int
    classes: tuple[int, ...]
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None
    source_id: int | None = None

    def __post_init__(self) -> None:
        if self.source_id is None:
            object.__setattr__(self, "source_id", self.id)

    @property
    def name(self) -> str:
        return f"task {self.id}"

    @property
    def origin(self) -> int:
        """The task's id in the full benchmark (differs from `id` in a benchmark built with `without`)."""
        assert self.source_id is not None  # set in __post_init__
        return self.source_id

    @property
    def has_validation(self) -> bool:
        return self.x_val is not None and len(self.x_val) > 0


def _relabel(task: Task, new_id: int, scenario: str, old_offset: int, new_offset: int) -> Task:
    """`task` as task `new_id`; in CIL its labels move from `old_offset` to `new_offset` (images shared)."""

    def shift(y: torch.Tensor) -> torch.Tensor:
        if old_offset == new_offset:
            return y
        return reoffset_labels(scenario, y, old_offset, new_offset)

    y_val = None if task.y_val is None else shift(task.y_val)
    return dataclasses.replace(task, id=new_id, y_train=shift(task.y_train), y_test=shift(task.y_test), y_val=y_val)


@dataclass(frozen=True, eq=False)
class Benchmark:
    """A benchmark in one scenario: the tasks in order, the input shape and the normalisation.

    `augment` switches on the standard random crop (padding 4) and horizontal flip while training
    (CIFAR and TinyImageNet); it never applies to testing or validation.
    """

    name: str
    scenario: str
    tasks: tuple[Task, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = False

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def task(self, task_id: int) -> Task:
        """The task with 1-based id `task_id`."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"{self.name} has no task {task_id} (tasks: {[t.id for t in self.tasks]})")

    def without(self, task_ids: Iterable[int]) -> Benchmark:
        """The same benchmark with the tasks `task_ids` removed (e.g. the retrain reference of unlearning).

        The remaining tasks keep their order and are renumbered 1..k, so heads stay contiguous; each keeps
        its original id in `Task.source_id`. Their images are the very same tensors (bit-identical) and
        their labels are unchanged in TIL and DIL; in CIL labels are global class indices in order of
        arrival, so they shift down past the removed tasks' classes — exactly the labels the benchmark
        would have had if it had been built without those tasks.

        Raises:
            KeyError: an id in `task_ids` is not a task of this benchmark.
            ValueError: `task_ids` would remove every task.
        """
        drop = set(task_ids)
        unknown = drop - {t.id for t in self.tasks}
        if unknown:
            raise KeyError(f"{self.name} has no task {sorted(unknown)} (tasks: {[t.id for t in self.tasks]})")
        if len(drop) >= len(self.tasks):
            raise ValueError(
                f"without = {sorted(drop)} is not valid: it removes all {len(self.tasks)} tasks of {self.name}"
            )
        kept: list[Task] = []
        old_offset, new_offset = 0, 0
        for task in self.tasks:
            if task.id not in drop:
                kept.append(_relabel(task, len(kept) + 1, self.scenario, old_offset, new_offset))
                new_offset += task.num_classes
            old_offset += task.num_classes
        return dataclasses.replace(self, tasks=tuple(kept))
