"""Continual-learning metrics: pure functions of the accuracy matrix.

`matrix[t][j]` is the accuracy on task j+1 after training task t+1 (0-based list indices, row t holds
t+1 values: the lower triangle). Metrics that need an earlier task return None for a one-task matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

Matrix = Sequence[Sequence[float]]


def _check(matrix: Matrix) -> None:
    if not matrix:
        raise ValueError("accuracy matrix is empty: expected at least one row")
    for t, row in enumerate(matrix):
        if len(row) < t + 1:
            raise ValueError(f"accuracy matrix row {t} has {len(row)} values: expected at least {t + 1}")


def average_accuracy(matrix: Matrix, t: int) -> float:
    """AA_t = mean_{j≤t} A[t, j] (t is a 0-based row index)."""
    _check(matrix)
    row = matrix[t][: t + 1]
    return sum(row) / len(row)


def average_accuracies(matrix: Matrix) -> list[float]:
    """[AA_1, ..., AA_T]: the average accuracy after each task."""
    return [average_accuracy(matrix, t) for t in range(len(matrix))]


def final_average_accuracy(matrix: Matrix) -> float:
    """AA_T: the average accuracy over all tasks after the last one."""
    return average_accuracy(matrix, len(matrix) - 1)


def average_incremental_accuracy(matrix: Matrix) -> float:
    """mean_t AA_t (Rebuffi et al., iCaRL 2017)."""
    values = average_accuracies(matrix)
    return sum(values) / len(values)


def backward_transfer(matrix: Matrix) -> float | None:
    """BWT = mean_{j<T} (A[T, j] − A[j, j]) (Lopez-Paz & Ranzato, GEM 2017); negative = forgetting."""
    _check(matrix)
    last = len(matrix) - 1
    if last == 0:
        return None
    return sum(matrix[last][j] - matrix[j][j] for j in range(last)) / last


def forgetting_per_task(matrix: Matrix) -> list[float]:
    """F_j = max_{t<T} A[t, j] − A[T, j] for each j < T (Chaudhry et al., RWalk 2018)."""
    _check(matrix)
    last = len(matrix) - 1
    return [max(matrix[t][j] for t in range(j, last)) - matrix[last][j] for j in range(last)]


def forgetting(matrix: Matrix) -> float | None:
    """Average forgetting: mean_{j<T} F_j."""
    values = forgetting_per_task(matrix)
    return sum(values) / len(values) if values else None


def forward_transfer(matrix: Matrix, reference_diagonal: Sequence[float]) -> float | None:
    """FWT = mean_{j≥2} (A[j, j] − R_j), where R_j is the accuracy on task j of a freshly initialised
    model trained on task j alone (e.g. the `independent` run's diagonal)."""
    _check(matrix)
    if len(reference_diagonal) != len(matrix):
        raise ValueError(f"reference_diagonal has {len(reference_diagonal)} values: expected {len(matrix)}")
    if len(matrix) == 1:
        return None
    return sum(matrix[j][j] - reference_diagonal[j] for j in range(1, len(matrix))) / (len(matrix) - 1)


def old_new_accuracy(matrix: Matrix) -> dict[str, list[float | None]]:
    """Per row t: the accuracy on the old tasks' classes (the mean of A[t, j] over j < t; None after the
    first task) and on the new task's (A[t, t]). In class-incremental learning a wide gap between the two
    is the recency bias of the growing head (Wu et al., BiC 2019; Zhao et al., WA 2020)."""
    _check(matrix)
    old = [sum(row[:t]) / t if t else None for t, row in enumerate(matrix)]
    return {"old_class_accuracy": old, "new_class_accuracy": [float(row[t]) for t, row in enumerate(matrix)]}


def summarise(matrix: Matrix) -> dict[str, object]:
    """Every metric of one accuracy matrix, as stored in `summary.json`."""
    return {
        "accuracy_matrix": [list(map(float, row[: t + 1])) for t, row in enumerate(matrix)],
        "average_accuracy_per_task": average_accuracies(matrix),
        "final_average_accuracy": final_average_accuracy(matrix),
        "average_incremental_accuracy": average_incremental_accuracy(matrix),
        "bwt": backward_transfer(matrix),
        "forgetting": forgetting(matrix),
        "forgetting_per_task": forgetting_per_task(matrix),
    }
