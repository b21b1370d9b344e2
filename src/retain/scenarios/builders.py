"""Benchmark builders: turn one `SourceData` into a sequence of tasks for a scenario.

Builders are pure: they take the source and a seed, and build new tensors; nothing global is touched.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import torch

from retain.scenarios.setting import task_labels
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Task


def class_order(num_classes: int, order: str | Sequence[int], seed: int) -> list[int]:
    """`fixed` gives 0..C-1; `shuffle` a permutation drawn from a local generator seeded by `seed`;
    an explicit list of distinct class ids is used as given (it may name a subset of the classes)."""
    if order == "fixed":
        return list(range(num_classes))
    if order == "shuffle":
        gen = torch.Generator().manual_seed(seed)
        return torch.randperm(num_classes, generator=gen).tolist()
    if isinstance(order, str):
        raise ValueError(f"class_order = {order!r} is not valid: expected 'fixed', 'shuffle' or a list of class ids")
    explicit = [int(c) for c in order]
    if not explicit or len(set(explicit)) != len(explicit) or not all(0 <= c < num_classes for c in explicit):
        raise ValueError(
            f"class_order = {explicit} is not valid: expected distinct class ids from 0 to {num_classes - 1}"
        )
    return explicit


def tasks_and_width(
    num_classes: int, num_tasks: int | None, per_task: int | None, default_tasks: int
) -> tuple[int, int]:
    """Resolve (number of tasks, classes per task) for a split of `num_classes` classes.

    Either value may be None: it is then derived from the other (which must divide `num_classes`); with
    both None, `default_tasks` is used. With both given, the first `num_tasks × per_task` classes of the
    order are used and the rest left out.
    """
    if per_task is None:
        if num_tasks is None:
            num_tasks = default_tasks
        if num_tasks < 1 or num_classes % num_tasks:
            raise ValueError(
                f"num_tasks = {num_tasks} is not valid: {num_classes} classes must split evenly "
                f"(valid: a divisor of {num_classes} from 1 to {num_classes}, or set classes_per_task too)"
            )
        return num_tasks, num_classes // num_tasks
    if num_tasks is None:
        if per_task < 1 or num_classes % per_task:
            raise ValueError(
                f"classes_per_task = {per_task} is not valid: {num_classes} classes must split evenly "
                f"(valid: a divisor of {num_classes}, or set num_tasks too)"
            )
        return num_classes // per_task, per_task
    if num_tasks * per_task > num_classes:
        raise ValueError(
            f"num_tasks × classes_per_task = {num_tasks} × {per_task} is not valid: only {num_classes} classes"
        )
    return num_tasks, per_task


def _select(x: torch.Tensor, y: torch.Tensor, classes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples of `classes`, with labels replaced by their position in `classes` (0..k-1)."""
    lookup = torch.full((max(int(y.max()), *classes) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(list(classes))] = torch.arange(len(classes))
    local = lookup[y]
    keep = local >= 0
    return x[keep], local[keep]


def split_by_class(
    source: SourceData, scenario: str, num_tasks: int, order: Sequence[int], per_task: int | None = None
) -> list[Task]:
    """Split the classes into `num_tasks` disjoint groups of `per_task` classes, in `order` (Split MNIST
    style; Zenke et al. 2017). `per_task` None splits all of `order` evenly."""
    if per_task is None:
        num_tasks, per_task = tasks_and_width(len(order), num_tasks, None, num_tasks)
    elif num_tasks < 1 or num_tasks * per_task > len(order):
        raise ValueError(
            f"num_tasks × classes_per_task = {num_tasks} × {per_task} is not valid: only {len(order)} classes"
        )
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
    perms = pixel_permutations(source.x_train[0].numel(), num_tasks, seed)
    return _all_class_tasks(source, scenario, [functools.partial(_permute, perm=perm) for perm in perms])


def _all_class_tasks(
    source: SourceData, scenario: str, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]]
) -> list[Task]:
    """One task per image transform, each with every class of `source` (CIL: new class ids per task)."""
    c = source.num_classes
    return [
        Task(
            id=i + 1,
            classes=tuple(range(c)),
            num_classes=c,
            x_train=transform(source.x_train),
            y_train=task_labels(scenario, source.y_train, i * c),
            x_test=transform(source.x_test),
            y_test=task_labels(scenario, source.y_test, i * c),
        )
        for i, transform in enumerate(transforms)
    ]


def rotation_angles(num_tasks: int, max_angle: float = 180.0) -> list[float]:
    """Evenly spaced angles in degrees, task t at (t − 1) · max_angle / num_tasks: task 1 is upright."""
    return [i * max_angle / num_tasks for i in range(num_tasks)]


def _rotate(x: torch.Tensor, angle: float) -> torch.Tensor:
    from torchvision.transforms.v2.functional import InterpolationMode, rotate

    if angle == 0:
        return x.clone()
    return rotate(x, angle, interpolation=InterpolationMode.BILINEAR)


def rotate_images(
    source: SourceData, scenario: str, num_tasks: int, angles: Sequence[float] | None = None
) -> list[Task]:
    """Rotated benchmark (as in GEM, Lopez-Paz & Ranzato 2017): every task has all classes, each image
    rotated by the task's fixed angle (bilinear, corners filled with 0); default `rotation_angles`."""
    if num_tasks < 1:
        raise ValueError(f"num_tasks = {num_tasks} is not valid: expected a positive integer")
    angles = list(angles) if angles is not None else rotation_angles(num_tasks)
    return _all_class_tasks(source, scenario, [functools.partial(_rotate, angle=angle) for angle in angles])


def carve_validation(tasks: Sequence[Task], fraction: float, seed: int) -> list[Task]:
    """Move a random `fraction` of each task's training set into its validation set (`x_val`, `y_val`).

    Each task draws its own split from a local generator seeded by `seed` and the task's position, so
    the split does not depend on the other tasks. Tasks are returned unchanged when `fraction` is 0.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction = {fraction} is not valid: expected 0 <= val_fraction < 1")
    if fraction == 0:
        return list(tasks)
    out = []
    for i, task in enumerate(tasks):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        order = torch.randperm(len(task.y_train), generator=gen)
        n_val = round(fraction * len(order))
        if n_val >= len(order):
            raise ValueError(
                f"val_fraction = {fraction} is not valid: it leaves task {task.id} ({len(order)} training samples) "
                f"with no training sample; expected at most {(len(order) - 1) / len(order):.4f}"
            )
        val, train = order[:n_val].sort().values, order[n_val:].sort().values
        out.append(
            dataclasses.replace(
                task,
                x_train=task.x_train[train],
                y_train=task.y_train[train],
                x_val=task.x_train[val],
                y_val=task.y_train[val],
            )
        )
    return out
