"""The report's figures, drawn with bare matplotlib `Figure`s (no pyplot state, no backend switch).

Each function takes report rows (see `retain.runs.collect`) and returns a Figure; `png_bytes` renders it.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from retain.runs.collect import Row, Stat, stat

_F = TypeVar("_F", bound=Callable[..., Figure])


def _plain_text(make: _F) -> _F:
    """Draw the figure with mathtext off: a `$...$` in a name from a config is text, not a formula to parse."""

    @functools.wraps(make)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context({"text.parse_math": False}):
            return make(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


@_plain_text
def accuracy_matrix_figure(
    matrix: Sequence[Sequence[float]], title: str, marks: Mapping[int, str] | None = None
) -> Figure:
    """Heatmap of a lower-triangular accuracy matrix, each cell annotated; rows (1-based) in `marks`
    (e.g. after an unlearning event) get a * on their label."""
    num = len(matrix)
    grid = np.full((num, num), np.nan)
    for t, row in enumerate(matrix):
        grid[t, : len(row)] = row
    fig = Figure(figsize=(1.4 + 0.7 * num, 1.0 + 0.6 * num), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis")
    for t in range(num):
        for j in range(min(t + 1, len(matrix[t]))):
            ax.text(
                j,
                t,
                f"{grid[t, j]:.2f}",
                ha="center",
                va="center",
                color="white" if grid[t, j] < 0.6 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(num), [str(j + 1) for j in range(num)])
    ax.set_yticks(range(num), [f"{t + 1}*" if marks and t + 1 in marks else str(t + 1) for t in range(num)])
    ax.set_xlabel("tested task")
    ax.set_ylabel("after training task" + (" (* = unlearning)" if marks else ""))
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _band(ax, xs: list[int], stats: Sequence[Stat], label: str) -> None:
    mean = np.array([s.mean for s in stats], dtype=float)
    std = np.array([s.std for s in stats], dtype=float)
    (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=label)
    ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


@_plain_text
def average_accuracy_figure(rows: Sequence[Row], title: str) -> Figure:
    """Average accuracy after each task: one line per row, a band of ± one std over seeds."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for row in rows:
        stats = row.per_task("average_accuracy_per_task")
        _band(ax, list(range(1, len(stats) + 1)), stats, f"{row.label} (n={len(row.runs)})")
    num = max((len(row.per_task("average_accuracy_per_task")) for row in rows), default=1)
    ax.set_xticks(range(1, num + 1))
    ax.set_xlabel("after training task")
    ax.set_ylabel("average accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return fig


@_plain_text
def per_task_figure(rows: Sequence[Row], title: str) -> Figure:
    """Accuracy on each task as training goes on, one panel per row (mean over seeds, ± std band)."""
    fig = Figure(figsize=(3.2 * len(rows), 3.0), layout="constrained")
    axes = fig.subplots(1, len(rows), sharey=True, squeeze=False)[0]
    for ax, row in zip(axes, rows):
        mean, std = row.mean_matrix()
        num = len(mean)
        for j in range(num):
            xs = list(range(j + 1, num + 1))
            _band(ax, xs, [Stat(mean[t][j], std[t][j], len(row.runs)) for t in range(j, num)], f"task {j + 1}")
        ax.set_title(row.label, fontsize=8)
        ax.set_xlabel("after training task")
        ax.set_xticks(range(1, num + 1))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=9)
    return fig


@_plain_text
def bars_figure(
    rows: Sequence[Row], values: Sequence[Sequence[Stat]], categories: Sequence[str], ylabel: str, title: str
) -> Figure:
    """Grouped bars: one group per category, one bar per row, error bars of ± one std."""
    fig = Figure(figsize=(max(4.0, 0.9 * len(categories) * max(1, len(rows)) * 0.5 + 2), 3.4), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(rows))
    for i, (row, stats) in enumerate(zip(rows, values)):
        xs = np.arange(len(stats)) + (i - (len(rows) - 1) / 2) * width
        means = [np.nan if s.mean is None else s.mean for s in stats]
        errs = [0.0 if s.std is None else s.std for s in stats]
        ax.bar(xs, means, width, yerr=errs, capsize=2, label=row.label)
    ax.set_xticks(range(len(categories)), categories, fontsize=7, rotation=20 if len(categories) > 6 else 0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


@_plain_text
def forgetting_figure(rows: Sequence[Row], title: str) -> Figure:
    """Forgetting F_j of each task j < T (max earlier accuracy − final accuracy), mean ± std over seeds."""
    values = [row.per_task("forgetting_per_task") for row in rows]
    num = max((len(v) for v in values), default=0)
    values = [v + [Stat(None, None, 0)] * (num - len(v)) for v in values]
    return bars_figure(rows, values, [f"task {j + 1}" for j in range(num)], "forgetting", title)


@_plain_text
def unlearning_figure(rows: Sequence[Row], keys: Sequence[str], title: str) -> Figure:
    """Every numeric value of `unlearning.json`: one panel per key (own scale), a bar per row, ± std."""
    cols = min(4, len(keys))
    nrows = -(-len(keys) // cols)
    fig = Figure(figsize=(2.6 * cols, 2.4 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(rows))]
    for ax, key in zip(axes, keys):
        stats = [row_stat(row, key) for row in rows]
        means = [np.nan if s.mean is None else s.mean for s in stats]
        errs = [0.0 if s.std is None else s.std for s in stats]
        ax.bar(range(len(rows)), means, yerr=errs, capsize=2, color=colours)
        ax.set_xticks(range(len(rows)), [row.label for row in rows], fontsize=6, rotation=20)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(key, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle(f"unlearning — {title}", fontsize=9)
    return fig


def row_stat(row: Row, key: str) -> Stat:
    """Mean ± std over seeds of one `unlearning.json` value."""
    return stat(r.unlearning.get(key) for r in row.runs)
