"""Device-resident batches: uint8 images stored on the training device once, batched by index.

Normalisation runs batched on the device; shuffling uses the caller's seeded `torch.Generator`, so
the same seed gives the same batches on every device. No per-sample Python in the hot loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from retain.algorithms.base import Batch, TrainingData


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, C, H, W) → float32 on the [0, 1] scale, standardised per channel."""
    return (x.float().div_(255.0) - mean) / std


class DeviceBatches:
    """One data set held on `device` (uint8) and served as normalised batches."""

    def __init__(
        self, data: TrainingData, mean: Sequence[float], std: Sequence[float], device: torch.device
    ) -> None:
        self.x = data.x.to(device)
        self.y = data.y.to(device)
        self.task_ids = None if data.task_ids is None else data.task_ids.to(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def _batch(self, idx: torch.Tensor | slice) -> Batch:
        tids = None if self.task_ids is None else self.task_ids[idx]
        return Batch(normalise(self.x[idx], self.mean, self.std), self.y[idx], tids)

    def shuffled(self, batch_size: int, generator: torch.Generator, skip: int = 0) -> Iterator[Batch]:
        """One epoch in a random order drawn from `generator` (a CPU generator, for device independence).

        `skip` leaves out the first `skip` batches of that order (a resumed epoch); the generator
        advances exactly as for a whole epoch.
        """
        order = torch.randperm(len(self), generator=generator).to(self.y.device)
        for start in range(skip * batch_size, len(self), batch_size):
            yield self._batch(order[start : start + batch_size])

    def in_order(self, batch_size: int) -> Iterator[Batch]:
        """The data set in its stored order (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self._batch(slice(start, start + batch_size))
