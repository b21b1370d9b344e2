"""Frozen backbone = features once: the heads of a task train on its features, computed once.

With `backbone.freeze: all` nothing before the heads changes during a task, so the features of an
un-augmented training set are the same at every epoch: the loop computes them once per task
(`FeatureBatches`), serves batches of features in exactly the order and composition the image batches
would have had (the same draws from the same generator), and switches the backbone to pass its input
through (`precomputed`) while the task trains. LwF's teachers share the frozen backbone (their copies do
not duplicate it), so their distillation targets also cost a head pass. The losses are those of
recomputing the features at every step, up to the floating-point order of a batched matrix product
(features computed in chunks of `CHUNK` instead of one training batch at a time); with random augmentation
the features differ at every step, so nothing is cached. The test sets of such a backbone are also kept
as features (`test_features`), so the evaluation after every task runs the heads only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

import torch
from torch import nn

from retain.models.pretrained import PretrainedBackbone
from retain.training.batch import Batch, Batches

CHUNK = 1024  # images per backbone call while computing the cache


class FeatureBatches:
    """A data set as its backbone features on the device, served as the image batches would be."""

    augmented = False

    def __init__(self, features: torch.Tensor, y: torch.Tensor, task_ids: torch.Tensor | None) -> None:
        self.features, self.y, self.task_ids = features, y, task_ids
        self.device = features.device

    @classmethod
    @torch.no_grad()
    def compute(cls, data: Batches, backbone: nn.Module) -> FeatureBatches:
        """Run `backbone` once over `data` in stored order (its un-augmented batches)."""
        parts = [(backbone(b.x), b.y, b.task_ids) for b in data.in_order(CHUNK)]
        tids = None if not parts or parts[0][2] is None else torch.cat([p[2] for p in parts])  # type: ignore[misc]
        return cls(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), tids)

    def __len__(self) -> int:
        return len(self.y)

    def _serve(self, order: torch.Tensor, batch_size: int) -> Iterator[Batch]:
        for idx in order.to(self.device).split(batch_size):
            tids = None if self.task_ids is None else self.task_ids[idx]
            yield Batch(self.features[idx], self.y[idx], tids, idx)

    def shuffled(self, batch_size: int, generator: torch.Generator, skip: int = 0) -> Iterator[Batch]:
        """The epoch of the image batches for the same generator (one `randperm`), without its first `skip`."""
        order = torch.randperm(len(self), generator=generator)
        return self._serve(order[skip * batch_size :], batch_size)

    def in_order(self, batch_size: int) -> Iterator[Batch]:
        return self._serve(torch.arange(len(self)), batch_size)


def caches_features(backbone: nn.Module) -> TypeGuard[PretrainedBackbone]:
    """Whether `backbone` is entirely frozen and asks for its features to be cached (`cache_features`)."""
    return isinstance(backbone, PretrainedBackbone) and backbone.frozen and backbone.cache_features


def test_features(data: Batches, backbone: nn.Module) -> Batches:
    """A test set as its features when `backbone` caches them (a frozen backbone's test features never
    change: computed once per task, not at each of the evaluations after every later task)."""
    return FeatureBatches.compute(data, backbone) if caches_features(backbone) else data


@contextlib.contextmanager
def features_as_inputs(backbone: nn.Module) -> Iterator[None]:
    """The backbone passes its input through while the cached test sets are evaluated."""
    if not caches_features(backbone):
        yield
        return
    backbone.precomputed = True
    try:
        yield
    finally:
        backbone.precomputed = False


Convert = Callable[[Batches, Any], tuple[Batches, Any]]


@contextlib.contextmanager
def features_once(backbone: nn.Module) -> Iterator[Convert]:
    """Within a task: a function (train data, validation data or None) → the same as features, when the
    cache applies (a cacheable backbone, un-augmented training batches); the backbone passes its input
    through from then until the task's training ends (also on an error or an interruption)."""

    def convert(data: Batches, val: Any) -> tuple[Batches, Any]:
        if not caches_features(backbone) or data.augmented:
            return data, val
        backbone.precomputed = False
        cached = FeatureBatches.compute(data, backbone), None if val is None else FeatureBatches.compute(val, backbone)
        backbone.precomputed = True
        return cached

    try:
        yield convert
    finally:
        if caches_features(backbone):
            backbone.precomputed = False
