"""The plain data types shared by the algorithms and the loop: a batch, one task's data, a batch source.

This module sits below the algorithms (they import it) and the data paths (they implement `Batches`),
so it imports torch and the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True, eq=False)
class Batch:
    """A training batch: inputs (normalised floats), labels and, for mixed-task data, per-sample task ids."""

    x: torch.Tensor
    y: torch.Tensor
    task_ids: torch.Tensor | None = None
    index: torch.Tensor | None = None  # positions in the task's training data (for per-sample caches)


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What the loop iterates over for one task: uint8 images, labels, optional per-sample task ids."""

    x: torch.Tensor
    y: torch.Tensor
    task_ids: torch.Tensor | None = None


class Batches(Protocol):
    """A data set served as batches on the training device, as an algorithm sees it.

    Implemented by both data paths (`retain.training.data.DeviceBatches` and `LoaderBatches`).
    """

    device: torch.device

    def __len__(self) -> int: ...

    @property
    def augmented(self) -> bool:
        """Whether training batches carry random augmentation (per-sample caches are then invalid)."""
        ...

    def shuffled(self, batch_size: int, generator: torch.Generator, skip: int = 0) -> Iterator[Batch]:
        """One epoch in a random order drawn from `generator`, without its first `skip` batches."""
        ...

    def in_order(self, batch_size: int) -> Iterator[Batch]:
        """The data set in its stored order (for evaluation and caches)."""
        ...
