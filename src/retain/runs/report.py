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
    attacks = (report.get("membership") or {}).get("population", {})
    if attacks:
        table.add_column("MIA AUC (unlearned train vs test)", justify="right")
        table.add_column("member rate (train / test)", justify="right")
    for name in ("unlearned_model", "original_reference", "retrain_reference"):
        cells = [_fmt(report[f"{name}_accuracy_on_unlearned"]), _fmt(report[f"{name}_accuracy_on_remaining"])]
        if attacks:
            a = attacks[name]
            cells += [_fmt(a["auc"]), f"{_fmt(a['member_rate'])} / {_fmt(a['member_rate_test'])}"]
        table.add_row(name.replace("_", " "), *cells)
    lines = [
        f"AG ({report['ag_scope']}) = {_fmt(report['ag'])}   "
        f"DD ({report['dd_distance']}, {report['dd_scope']}) = {_fmt(report['dd'])}"
    ]
    if "relapse_max" in report:
        cost = report.get("cost")
        spent = "" if cost is None else f"   unlearning {cost['seconds']:.3f} s, {cost['bytes_kept']} bytes kept"
        lines.append(
            f"relapse = {_fmt(report['relapse_max'])}{spent}   retrain reference {report['retrain_reference_seconds']:.2f} s"
        )
    table.caption = "\n".join(lines)
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
    skipping = any("skipped_batches_per_task" in summary for summary in rows.values())
    if skipping:  # train.on_nan=skip_batch: how many updates were skipped for a non-finite loss, per task
        table.add_column("skipped batches", justify="right")
    for label, summary in rows.items():
        seconds = sum(summary.get("train_seconds_per_task", []))
        cells = [_fmt(summary.get(key)) for key, _ in METRIC_COLUMNS] + [f"{seconds:.1f}"]
        if skipping:
            cells.append(",".join(str(n) for n in summary.get("skipped_batches_per_task", [])) or "-")
        table.add_row(label, *cells)
    return table


def plot_accuracy_matrix(
    matrix: Sequence[Sequence[float]],
    folder: Path,
    title: str,
    marks: Mapping[int, str] | None = None,
    forgotten: Mapping[int, int] | None = None,
) -> list[Path]:
    """Heatmap of the accuracy matrix as PNG and SVG in `folder`; rows in `marks` get a * label, the
    columns of unlearned tasks (`forgotten`: task → request row) a red outline from the request on."""
    from retain.runs.figures import accuracy_matrix_figure  # matplotlib only when a plot is drawn

    fig = accuracy_matrix_figure(matrix, title, marks, forgotten)
    paths = [folder / "accuracy_matrix.png", folder / "accuracy_matrix.svg"]
    for path in paths:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=path.suffix[1:], dpi=120)
        atomic_write_bytes(path, buffer.getvalue())
    return paths
