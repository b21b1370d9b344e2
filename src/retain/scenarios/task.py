"""Frozen task data: what one task of a benchmark holds, and the benchmark as a sequence of tasks.

Task ids are 1-based everywhere in retain (configs, logs, files): task 1 is the first task learnt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class Task:
    """One task: its images (uint8, N×C×H×W), labels already remapped for the scenario, and head size.

    `num_classes` is the number of outputs this task needs from its head: TIL and CIL add that many
    outputs; DIL shares one head of that size. `classes` are the source's original class ids.
    """

    id: int
    classes: tuple[int, ...]
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source_id: int | None = None

    @property
    def name(self) -> str:
        return f"task {self.id}"

    @property
    def origin(self) -> int:
        """The task's id in the full benchmark (differs from `id` in a benchmark built with `without`)."""
        return self.id if self.source_id is None else self.source_id


@dataclass(frozen=True, eq=False)
class Benchmark:
    """A benchmark in one scenario: the tasks in order, the input shape and the normalisation."""

    name: str
    scenario: str
    tasks: tuple[Task, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def without(self, task_ids: Iterable[int]) -> "Benchmark":
        """The same benchmark with the tasks `task_ids` left out (e.g. an unlearning retrain reference).

        The remaining tasks keep their data bit-identical and their order; they are renumbered 1..k so
        that heads stay contiguous, and `Task.origin` keeps each one's id in the full benchmark. In CIL the
        global labels are shifted down by the classes of the removed earlier tasks.
        """
        removed = set(task_ids)
        unknown = sorted(removed - {t.id for t in self.tasks})
        if unknown:
            raise ValueError(f"without: tasks {unknown} are not in {self.name} (tasks {[t.id for t in self.tasks]})")
        kept, shift = [], 0
        for task in self.tasks:
            if task.id in removed:
                shift += task.num_classes if self.scenario == "cil" else 0
                continue
            kept.append(
                dataclasses.replace(
                    task,
                    id=len(kept) + 1,
                    source_id=task.origin,
                    y_train=task.y_train - shift if shift else task.y_train,
                    y_test=task.y_test - shift if shift else task.y_test,
                )
            )
        return dataclasses.replace(self, tasks=tuple(kept))

    def task(self, task_id: int) -> Task:
        """The task with 1-based id `task_id`."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"{self.name} has no task {task_id} (tasks: {[t.id for t in self.tasks]})")
