"""Frozen task data: what one task of a benchmark holds, and the benchmark as a sequence of tasks.

Task ids are 1-based everywhere in retain (configs, logs, files): task 1 is the first task learnt.
"""

from __future__ import annotations

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

    @property
    def name(self) -> str:
        return f"task {self.id}"


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

    def task(self, task_id: int) -> Task:
        """The task with 1-based id `task_id`."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"{self.name} has no task {task_id} (tasks: {[t.id for t in self.tasks]})")
