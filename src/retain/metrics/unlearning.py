"""Unlearning metrics: accuracy gain and distribution distances, pure functions.

Accuracies are given per task id (1-based) as mappings; features as (N, D) tensors of backbone outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch


def accuracy_gain(unlearned: Mapping[int, float], original: Mapping[int, float], tasks: Iterable[int]) -> float | None:
    """AG = mean_{j ∈ tasks} (acc_unlearned[j] − acc_original[j]); None when `tasks` is empty.

    Negative: unlearning cost accuracy on those tasks (what the kept tasks lost, by default)."""
    ids = list(tasks)
    if not ids:
        return None
    return sum(unlearned[j] - original[j] for j in ids) / len(ids)


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"features must be two (N, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def euclidean(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over samples of ‖a_i − b_i‖₂."""
    _check(a, b)
    return (a - b).double().norm(dim=1).mean().item()


def manhattan(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over samples of ‖a_i − b_i‖₁."""
    _check(a, b)
    return (a - b).double().abs().sum(dim=1).mean().item()


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over samples of 1 − cos(a_i, b_i)."""
    _check(a, b)
    return (1 - torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1, eps=1e-12)).mean().item()


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 − linear CKA(a, b) (Kornblith et al., ICML 2019): ‖AᵀB‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F) on centred features.

    0 when the two representations agree up to rotation and isotropic scaling; 1 when unrelated."""
    _check(a, b)
    x = a.double() - a.double().mean(dim=0)
    y = b.double() - b.double().mean(dim=0)
    denominator = (x.T @ x).norm() * (y.T @ y).norm()
    if denominator == 0:
        return 1.0
    return (1 - (y.T @ x).norm() ** 2 / denominator).item()


DISTANCES: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "euclidean": euclidean,
    "cosine": cosine,
    "manhattan": manhattan,
    "linear_cka": linear_cka,
}


def mean_over(values: Mapping[int, float | None], tasks: Iterable[int]) -> float | None:
    """Mean of `values` over `tasks`, skipping missing/None entries; None when nothing is left."""
    picked = [values[j] for j in tasks if values.get(j) is not None]
    return sum(picked) / len(picked) if picked else None  # type: ignore[arg-type]


def relapse(matrix: Sequence[Sequence[float]], requests: Mapping[int, Iterable[int]]) -> dict[int, dict[str, Any]]:
    """Per unlearned task u (requested after task t): its accuracy in every row from t on (`after_request`,
    row t first) and `relapse` = max over later rows of acc[s][u] − acc[t][u] (None without a later row):
    how much of u comes back as training goes on. Rows and tasks are 1-based as in the matrix's labels."""
    out: dict[int, dict[str, Any]] = {}
    for after, tasks in sorted(requests.items()):
        for u in tasks:
            series = [row[u - 1] for row in matrix[after - 1 :]]
            rises = [v - series[0] for v in series[1:]]
            out[u] = {"after_request": series, "relapse": max(rises) if rises else None}
    return out
