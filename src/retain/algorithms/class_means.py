"""Class means of feature vectors and the nearest-class-mean scores: the math of NCM classifiers.

Self-contained (torch only): `ClassMeans` keeps per-class sums and counts, so that means over several
parts (tasks, domains) combine exactly (`merged`) and a part can be removed without a trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F

Metric = Literal["cosine", "euclidean"]


class ClassMeans:
    """Per-class sums (C, D) and counts (C,) of feature vectors, in float64 so that sums of many batches
    do not drift; class c's mean is sums[c] / counts[c]."""

    def __init__(self, sums: torch.Tensor | None = None, counts: torch.Tensor | None = None) -> None:
        self.sums = sums
        self.counts = counts

    @property
    def num_classes(self) -> int:
        return 0 if self.counts is None else len(self.counts)

    def _grow(self, num_classes: int, dim: int, device: torch.device) -> None:
        if self.sums is None or self.counts is None:
            self.sums = torch.zeros(0, dim, dtype=torch.float64, device=device)
            self.counts = torch.zeros(0, dtype=torch.long, device=device)
        extra = num_classes - len(self.counts)
        if extra > 0:
            self.sums = torch.cat([self.sums, self.sums.new_zeros(extra, self.sums.shape[1])])
            self.counts = torch.cat([self.counts, self.counts.new_zeros(extra)])

    def add(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch of feature vectors (N, D) with their class labels (N,)."""
        if len(labels) == 0:
            return
        self._grow(int(labels.max()) + 1, features.shape[1], features.device)
        assert self.sums is not None and self.counts is not None
        self.sums.index_add_(0, labels, features.detach().to(torch.float64))
        self.counts.index_add_(0, labels, torch.ones_like(labels))

    @staticmethod
    def merged(parts: Iterable[ClassMeans]) -> ClassMeans:
        """The class means of the union of the parts' samples (sums and counts added class by class)."""
        total = ClassMeans()
        for part in parts:
            if part.sums is None or part.counts is None:
                continue
            total._grow(part.num_classes, part.sums.shape[1], part.sums.device)
            assert total.sums is not None and total.counts is not None
            total.sums[: part.num_classes] += part.sums
            total.counts[: part.num_classes] += part.counts
        return total

    def means(self) -> torch.Tensor:
        """(C, D) class means (zero for a class without samples)."""
        if self.sums is None or self.counts is None:
            raise ValueError("no class means yet: add features first")
        return self.sums / self.counts.clamp_min(1)[:, None]

    def scores(self, features: torch.Tensor, metric: Metric = "cosine") -> torch.Tensor:
        """(B, C) scores, highest for the nearest class mean: cosine similarity, or minus the squared
        Euclidean distance; −inf for classes without samples."""
        assert self.counts is not None
        means = self.means().to(features.dtype)
        if metric == "cosine":
            out = F.normalize(features, dim=1) @ F.normalize(means, dim=1).T
        else:
            out = -torch.cdist(features, means).square()
        empty = self.counts == 0
        if bool(empty.all()):  # nothing known (every class removed): no class is preferred
            return torch.zeros_like(out)
        return out.masked_fill(empty[None, :], float("-inf"))

    def emptied(self) -> ClassMeans:
        """The same classes with no samples (what is left of a part whose samples were removed)."""
        assert self.sums is not None and self.counts is not None
        return ClassMeans(torch.zeros_like(self.sums), torch.zeros_like(self.counts))

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums, "counts": self.counts}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClassMeans:
        return cls(state["sums"], state["counts"])
