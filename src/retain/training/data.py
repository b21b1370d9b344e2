"""The two data paths of the loop: device-resident batches and a `DataLoader`.

Both serve the same batches for the same generator: the epoch order (and any augmentation draw) comes
from the caller's seeded CPU `torch.Generator`, and normalisation/augmentation run batched on the
training device after the uint8 batch is there. They differ only in where the uint8 data lives:
`DeviceBatches` copies it to the device once and slices it by index (no per-sample Python, no copy per
step); `LoaderBatches` keeps it in host memory and lets `DataLoader` workers gather each batch into
pinned memory, for data that does not fit on the device.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset

from retain.models.pretrained import InputSpec
from retain.training.augment import CropFlip, crop_flip, draw_crop_flip
from retain.training.batch import Batch, TrainingData
from retain.training.resize import ResizedCropFlip, draw_resized_crop, model_input

if TYPE_CHECKING:
    from torch import nn

    from retain.scenarios.task import Benchmark, Task

Draw = CropFlip | ResizedCropFlip


def input_spec(model: nn.Module) -> InputSpec | None:
    """The input recipe of `model`'s backbone when it is a pretrained network (else None: the benchmark's
    own normalisation at the stored size)."""
    spec = getattr(getattr(model, "backbone", None), "input_spec", None)
    return spec if isinstance(spec, InputSpec) else None


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, C, H, W) → float32 on the [0, 1] scale, standardised per channel."""
    return (x.float().div_(255.0) - mean) / std


class _Batches:
    """What both paths share: the normalisation constants, the epoch order and the augmentation draw.

    With a pretrained network's `spec`, its size and normalisation replace the benchmark's (`mean`,
    `std`), and the augmentation is the pretrained recipes' random resized crop + flip
    (`retain.training.resize`); without one, the stored size and the CIFAR recipe's padded crop + flip.
    """

    def __init__(
        self,
        num: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device,
        augment: bool,
        spec: InputSpec | None = None,
    ) -> None:
        self.num = num
        self.device = device
        self.augment = augment
        self.spec = spec
        if spec is not None:
            mean, std = spec.mean, spec.std
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return self.num

    @property
    def augmented(self) -> bool:
        """Whether training batches carry random augmentation (per-sample caches are then invalid)."""
        return self.augment

    def _epoch(self, batch_size: int, generator: torch.Generator | None) -> list[tuple[torch.Tensor, Draw | None]]:
        """The index batches of one epoch, each with its augmentation draw (None without augmentation).

        Shuffled by `generator`, or in stored order when it is None (evaluation: never augmented). The
        order and the draws for the whole epoch are taken from the CPU generator at once and moved to
        the device in one copy each, so a step costs no host-to-device transfer of random numbers.
        """
        if generator is None:
            return [(idx, None) for idx in torch.arange(self.num).split(batch_size)]
        order = torch.randperm(self.num, generator=generator)
        if not self.augment:
            return [(idx, None) for idx in order.split(batch_size)]
        if self.spec is not None:
            resized = draw_resized_crop(self.num, generator)
            boxes = resized.boxes.to(self.device).split(batch_size)
            flips = resized.flips.to(self.device).split(batch_size)
            return [(idx, ResizedCropFlip(b, f)) for idx, b, f in zip(order.split(batch_size), boxes, flips)]
        draw = draw_crop_flip(self.num, generator)
        offsets = draw.offsets.to(self.device).split(batch_size)
        flips = draw.flips.to(self.device).split(batch_size)
        return [(idx, CropFlip(o, f)) for idx, o, f in zip(order.split(batch_size), offsets, flips)]

    def _finish(
        self, x: torch.Tensor, y: torch.Tensor, tids: torch.Tensor | None, draw: Draw | None, index: torch.Tensor
    ) -> Batch:
        if self.spec is not None:
            assert draw is None or isinstance(draw, ResizedCropFlip)
            return Batch(model_input(x, self.spec, self.mean, self.std, draw), y, tids, index)
        if draw is not None:
            assert isinstance(draw, CropFlip)
            x = crop_flip(x, draw)
        return Batch(normalise(x, self.mean, self.std), y, tids, index)


class DeviceBatches(_Batches):
    """One data set held on `device` (uint8) and served as normalised batches sliced by index.

    `augment` applies the random crop + flip to training batches (`shuffled`), never to `in_order`.
    """

    def __init__(
        self,
        data: TrainingData,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device,
        augment: bool = False,
        spec: InputSpec | None = None,
    ) -> None:
        super().__init__(len(data.y), mean, std, device, augment, spec)
        self.x = data.x.to(device)
        self.y = data.y.to(device)
        self.task_ids = None if data.task_ids is None else data.task_ids.to(device)

    def _serve(self, batches: list[tuple[torch.Tensor, Draw | None]]) -> Iterator[Batch]:
        if not batches:
            return
        sizes = [len(idx) for idx, _ in batches]
        order = torch.cat([idx for idx, _ in batches]).to(self.device)  # one copy per epoch
        for idx, (_, draw) in zip(order.split(sizes), batches):
            tids = None if self.task_ids is None else self.task_ids[idx]
            yield self._finish(self.x[idx], self.y[idx], tids, draw, idx)

    def shuffled(self, batch_size: int, generator: torch.Generator, skip: int = 0) -> Iterator[Batch]:
        """One epoch in a random order drawn from `generator` (a CPU generator, for device independence).

        `skip` leaves out the first `skip` batches of that order (a resumed epoch); the generator
        advances exactly as for a whole epoch.
        """
        return self._serve(self._epoch(batch_size, generator)[skip:])

    def in_order(self, batch_size: int) -> Iterator[Batch]:
        """The data set in its stored order (for evaluation)."""
        return self._serve(self._epoch(batch_size, None))


class _IndexedTensors(Dataset):
    """A dataset whose items are whole batches: `[indices]` gathers them in one tensor operation."""

    def __init__(self, data: TrainingData) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data.y)

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = self.data
        tids = torch.empty(0, dtype=torch.long) if d.task_ids is None else d.task_ids[idx]
        return d.x[idx], d.y[idx], tids


def usable_workers(requested: int) -> int:
    """`train.num_workers`, at most one worker process per CPU core of this machine (more only adds
    processes and memory: workers gather ready-made index batches); a warning says when it was lowered.
    A config is not refused for it, since the same config may run on a larger machine."""
    cores = os.cpu_count() or 1
    if requested > cores:
        warnings.warn(
            f"train.num_workers = {requested} lowered to {cores}, the CPU cores of this machine", stacklevel=2
        )
        return cores
    return requested


class LoaderBatches(_Batches):
    """One data set kept in host memory and served through a `DataLoader` (workers, pinned memory).

    The loader's sampler is the list of index batches of the epoch, so batches are exactly those of
    `DeviceBatches` for the same generator; each worker gathers whole batches, not single samples.
    """

    def __init__(
        self,
        data: TrainingData,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device,
        augment: bool = False,
        num_workers: int = 2,
        spec: InputSpec | None = None,
    ) -> None:
        super().__init__(len(data.y), mean, std, device, augment, spec)
        self.dataset = _IndexedTensors(data)
        self.has_task_ids = data.task_ids is not None
        self.num_workers = usable_workers(num_workers)
        self.y = data.y  # host copy: evaluation only needs its length

    def _serve(self, batches: list[tuple[torch.Tensor, Draw | None]]) -> Iterator[Batch]:
        loader = DataLoader(
            self.dataset,
            sampler=[idx for idx, _ in batches],
            batch_size=None,  # each item already is a batch
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            # the loader draws its workers' base seed from this generator, not from the global RNG,
            # which would otherwise shift every later head initialisation (the workers draw nothing)
            generator=torch.Generator().manual_seed(0),
        )
        for (x, y, tids), (idx, draw) in zip(loader, batches):
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            tids = tids.to(self.device, non_blocking=True) if self.has_task_ids else None
            yield self._finish(x, y, tids, draw, idx.to(self.device, non_blocking=True))

    def shuffled(self, batch_size: int, generator: torch.Generator, skip: int = 0) -> Iterator[Batch]:
        """One epoch in a random order drawn from `generator` (the same batches as `DeviceBatches`);
        `skip` leaves out the first batches, as for `DeviceBatches`."""
        return self._serve(self._epoch(batch_size, generator)[skip:])

    def in_order(self, batch_size: int) -> Iterator[Batch]:
        """The data set in its stored order (for evaluation)."""
        return self._serve(self._epoch(batch_size, None))


def test_batches(
    task: Task, benchmark: Benchmark, device: torch.device, spec: InputSpec | None = None
) -> DeviceBatches:
    """A task's test set on `device`, normalised with the benchmark's statistics or resized and normalised
    to a pretrained network's `spec` (never augmented)."""
    return DeviceBatches(TrainingData(task.x_test, task.y_test), benchmark.mean, benchmark.std, device, spec=spec)
