"""What an algorithm holds besides the model being trained, for memory benchmarks and reports.

An optional protocol: an algorithm that keeps large tensors (LwF's teachers and cached targets, the
Amnesiac wrapper's update records) defines `memory_bytes() -> {kind: bytes}`; the others report nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def memory_bytes(algorithm: Any) -> dict[str, int]:
    """`algorithm.memory_bytes()` by kind (e.g. LwF's `teachers` and `cache`) where it reports, else {}."""
    report = getattr(algorithm, "memory_bytes", None)
    return dict(report()) if callable(report) else {}


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors` (views of one storage, e.g. stacked teachers, count once)."""
    seen: dict[tuple[str, int], int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[(str(t.device), storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())
