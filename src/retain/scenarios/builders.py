"""Benchmark builders: turn one `SourceData` into a sequence of tasks for a scenario.

Builders are pure: they take the source and a seed, and build new tensors; nothing global is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from retain.scenarios.setting import task_labels
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Task


def class_order(num_classes: int, order: str, seed: int) -> list[int]:
    """`fixed` gives 0..C-1; `shuffle` a permutation drawn from a local generator seeded by `seed`."""
    if order == "fixed":
        return list(range(num_classes))
    if order == "shuffle":
        gen = torch.Generator().manual_seed(seed)
        return torch.randperm(num_classes, generator=gen).tolist()
    raise ValueError(f"class_order = {order!r} is not valid: expected 'fixed' or 'shuffle'")


def _select(x: torch.Tensor, y: torch.Tensor, classes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples of `classes`, with labels replaced by their position in `classes` (0..k-1)."""
    lookup = torch.full((int(y.max()) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(list(classes))] = torch.arange(len(classes))
    local = lookup[y]
    keep = local >= 0
    return x[keep], local[keep]


def split_by_class(source: SourceData, scenario: str, num_tasks: int, order: Sequence[int]) -> list[Task]:
    """Split the classes into `num_tasks` disjoint groups of equal size, in `order` (Split MNIST style)."""
    if num_tasks < 1 or len(order) % num_tasks:
        raise ValueError(
            f"num_tasks = {num_tasks} is not valid for {source.name}: {len(order)} classes must split "
            f"evenly (valid: a divisor of {len(order)} from 1 to {len(order)})"
        )
    per_task = len(order) // num_tasks
    tasks = []
    for i in range(num_tasks):
        classes = tuple(order[i * per_task : (i + 1) * per_task])
        x_tr, y_tr = _select(source.x_train, source.y_train, classes)
        x_te, y_te = _select(source.x_test, source.y_test, classes)
        offset = i * per_task
        tasks.append(
            Task(
                id=i + 1,
                classes=classes,
                num_classes=per_task,
                x_train=x_tr,
                y_train=task_labels(scenario, y_tr, offset),
                x_test=x_te,
                y_test=task_labels(scenario, y_te, offset),
            )
        )
    return tasks


def pixel_permutations(num_pixels: int, num_tasks: int, seed: int) -> list[torch.Tensor]:
    """One random pixel permutation per task, from a local generator seeded by `seed`."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(num_pixels, generator=gen) for _ in range(num_tasks)]


def _permute(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)[:, perm].reshape(x.shape)


def permute_pixels(source: SourceData, scenario: str, num_tasks: int, seed: int) -> list[Task]:
    """Permuted benchmark (Goodfellow et al. 2013): every task has all classes, pixels shuffled by a
    fixed per-task permutation (every task is permuted, the first included)."""
    if num_tasks < 1:
        raise ValueError(f"num_tasks = {num_tasks} is not valid: expected a positive integer")
    c = source.num_classes
    perms = pixel_permutations(source.x_train[0].numel(), num_tasks, seed)
    return [
        Task(
            id=i + 1,
            classes=tuple(range(c)),
            num_classes=c,
            x_train=_permute(source.x_train, perm),
            y_train=task_labels(scenario, source.y_train, i * c),
            x_test=_permute(source.x_test, perm),
            y_test=task_labels(scenario, source.y_test, i * c),
        )
        for i, perm in enumerate(perms)
    ]
