"""Terminal tables and plots drawn from a run's results."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from retain.metrics import old_new_accuracy
from retain.runs.store import atomic_write_bytes


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def matrix_table(
    matrix: Sequence[Sequence[float]],
    title: str = "accuracy matrix",
    marks: Mapping[int, str] | None = None,
    old_new: bool = False,
) -> Table:
    """The accuracy matrix as a rich table (rows: after task t, columns: tested task j).

    `marks` labels rows (1-based) after which something happened, e.g. an unlearning event. `old_new`
    adds each row's accuracy on the old tasks and on the new one (`old_new_accuracy`; CIL runs)."""
    marks = marks or {}
    table = Table(title=title)
    table.add_column("after task", justify="right")
    for j in range(len(matrix)):
        table.add_column(f"task {j + 1}", justify="right")
    split = old_new_accuracy(matrix) if old_new and matrix else None
    if split:
        table.add_column("old", justify="right")
        table.add_column("new", justify="right")
    if marks:
        table.add_column("event")
    for t, row in enumerate(matrix):
        cells = [str(t + 1), *[f"{v:.4f}" for v in row], *[""] * (len(matrix) - len(row))]
        if split:
            cells += [_fmt(split["old_class_accuracy"][t]), _fmt(split["new_class_accuracy"][t])]
        table.add_row(*cells, *([marks.get(t + 1, "")] if marks else []))
    return table


def unlearning_table(report: Mapping[str, Any]) -> Table:
    """The unlearning evaluation: AG, DD and the three models' accuracies on unlearned/remaining tasks."""
    table = Table(title=f"unlearning of tasks {report['unlearned_tasks']}")
    table.add_column("model")
    table.add_column("acc. unlearned tasks", justify="right")
    table.add_column("acc. remaining tasks", justify="right")
    for name in ("unlearned_model", "original_reference", "retrain_reference"):
        table.add_row(
            name.replace("_", " "),
            _fmt(report[f"{name}_accuracy_on_unlearned"]),
            _fmt(report[f"{name}_accuracy_on_remaining"]),
        )
    table.caption = (
        f"AG ({report['ag_scope']}) = {_fmt(report['ag'])}   "
        f"DD ({report['dd_distance']}, {report['dd_scope']}) = {_fmt(report['dd'])}"
    )
    return table


METRIC_COLUMNS = (
    ("final_average_accuracy", "final avg acc"),
    ("average_incremental_accuracy", "avg incremental acc"),
    ("bwt", "BWT"),
    ("forgetting", "forgetting"),
)


def metrics_table(rows: Mapping[str, Mapping[str, Any]], title: str = "results") -> Table:
    """One row per run label with the headline metrics and the total training time."""
    table = Table(title=title)
    table.add_column("run")
    for _, header in METRIC_COLUMNS:
        table.add_column(header, justify="right")
    table.add_column("train s", justify="right")
    for label, summary in rows.items():
        seconds = sum(summary.get("train_seconds_per_task", []))
        table.add_row(label, *[_fmt(summary.get(key)) for key, _ in METRIC_COLUMNS], f"{seconds:.1f}")
    return table


def plot_accuracy_matrix(
    matrix: Sequence[Sequence[float]], folder: Path, title: str, marks: Mapping[int, str] | None = None
) -> list[Path]:
    """Heatmap of the accuracy matrix as PNG and SVG in `folder`; rows in `marks` get a * label."""
    from retain.runs.figures import accuracy_matrix_figure  # matplotlib only when a plot is drawn

    fig = accuracy_matrix_figure(matrix, title, marks)
    paths = [folder / "accuracy_matrix.png", folder / "accuracy_matrix.svg"]
    for path in paths:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=path.suffix[1:], dpi=120)
        atomic_write_bytes(path, buffer.getvalue())
    return paths
