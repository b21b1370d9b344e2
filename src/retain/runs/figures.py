"""The report's figures, drawn with bare matplotlib `Figure`s (no pyplot state, no backend switch).

Each function takes report rows (see `retain.runs.collect`) and returns a Figure; `png_bytes` renders it.
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from retain.runs.collect import Row
from retain.runs.labels import MODELS
from retain.runs.stats import Stat, stat

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
    matrix: Sequence[Sequence[float]],
    title: str,
    marks: Mapping[int, str] | None = None,
    forgotten: Mapping[int, int] | None = None,
) -> Figure:
    """Heatmap of a lower-triangular accuracy matrix, each cell annotated; rows (1-based) in `marks`
    (e.g. after an unlearning event) get a * on their label. `forgotten` (unlearned task → the row of its
    request) outlines that task's column from the request on in red: where a relapse would show."""
    num = len(matrix)
    grid = np.full((num, num), np.nan)
    for t, row in enumerate(matrix):
        grid[t, : len(row)] = row
    width = max(3.2, 1.4 + 0.7 * num)
    fig = Figure(figsize=(width, 1.3 + 0.6 * num), layout="constrained")
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
    for u, first in (forgotten or {}).items():
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((u - 1.5, first - 1.5), 1, num - first + 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(num), [str(j + 1) for j in range(num)])
    ax.set_yticks(range(num), [f"{t + 1}*" if marks and t + 1 in marks else str(t + 1) for t in range(num)])
    ax.set_xlabel("tested task")
    ax.set_ylabel("after training task" + (" (* = unlearning)" if marks else ""))
    ax.set_title(textwrap.fill(title, int(11 * width)), fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _band(ax, xs: list[int], stats: Sequence[Stat], label: str) -> None:
    mean = np.array([s.mean for s in stats], dtype=float)
    std = np.array([s.std for s in stats], dtype=float)
    (line,) = ax.plot(xs, mean, marker="o", markersize=3, label=label)
    ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def _legend_height(count: int) -> float:
    """Inches the legend under a figure takes: one line, or a line per entry past three."""
    return 0.3 if count <= 3 else 0.2 * count + 0.1


def _legend_below(fig: Figure, ax, count: int) -> None:
    """One legend under the plot (never over the data): a column for more than three entries."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        [textwrap.shorten(label, 100) for label in labels],
        loc="outside lower center",
        fontsize=7,
        ncols=1 if count > 3 else max(1, count),
        frameon=False,
    )


@_plain_text
def average_accuracy_figure(rows: Sequence[Row], title: str) -> Figure:
    """Average accuracy after each task: one line per row, a band of ± one std over seeds."""
    fig = Figure(figsize=(6.0, 3.6 + _legend_height(len(rows))), layout="constrained")
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
    _legend_below(fig, ax, len(rows))
    return fig


@_plain_text
def per_task_figure(rows: Sequence[Row], title: str) -> Figure:
    """Accuracy on each task as training goes on, one panel per row (mean over seeds, ± std band), at most
    three panels a line, each titled with its row's label (wrapped)."""
    cols = min(3, len(rows))
    lines = -(-len(rows) // cols)
    fig = Figure(figsize=(3.6 * cols, 3.0 * lines + 0.3), layout="constrained")
    axes = fig.subplots(lines, cols, sharey=True, squeeze=False).ravel()
    for ax, row in zip(axes, rows):
        mean, std = row.mean_matrix()
        num = len(mean)
        for j in range(num):
            xs = list(range(j + 1, num + 1))
            _band(ax, xs, [Stat(mean[t][j], std[t][j], len(row.runs)) for t in range(j, num)], f"task {j + 1}")
        ax.set_title(textwrap.fill(row.label, 44), fontsize=7)
        ax.set_xlabel("after training task", fontsize=8)
        ax.set_xticks(range(1, num + 1))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel("accuracy")
    axes[len(rows) - 1].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=9)
    return fig


@_plain_text
def bars_figure(
    rows: Sequence[Row], values: Sequence[Sequence[Stat]], categories: Sequence[str], ylabel: str, title: str
) -> Figure:
    """Grouped bars: one group per category, one bar per row, error bars of ± one std."""
    width = max(4.0, 0.9 * len(categories) * max(1, len(rows)) * 0.5 + 2)
    fig = Figure(figsize=(width, 3.4 + _legend_height(len(rows))), layout="constrained")
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
    _legend_below(fig, ax, len(rows))
    return fig


@_plain_text
def forgetting_figure(rows: Sequence[Row], title: str) -> Figure:
    """Forgetting F_j of each task j < T (max earlier accuracy − final accuracy), mean ± std over seeds."""
    values = [row.per_task("forgetting_per_task") for row in rows]
    num = max((len(v) for v in values), default=0)
    values = [v + [Stat(None, None, 0)] * (num - len(v)) for v in values]
    return bars_figure(rows, values, [f"task {j + 1}" for j in range(num)], "forgetting", title)


ACCURACY_PANELS = (("unlearned", "accuracy on the unlearned tasks"), ("remaining", "accuracy on the remaining tasks"))
PANEL_TITLES = {"ag": "AG (accuracy gain)", "dd": "DD (distribution distance)"}


@_plain_text
def unlearning_figure(rows: Sequence[Row], keys: Sequence[str], title: str) -> Figure:
    """The values of `unlearning.json`: AG, DD, the three models' accuracies on the unlearned and on the
    remaining tasks (grouped bars), then one panel per other value; a bar per row (± std over seeds), one
    colour per row throughout, named in one legend under the panels. Rows without the values are left out."""
    rows = [row for row in rows if any(row_stat(row, k).mean is not None for k in keys)]
    accuracy_keys = {f"{m}_accuracy_on_{scope}" for m in MODELS for scope, _ in ACCURACY_PANELS}
    panels: list[tuple[str, list[str]]] = [(PANEL_TITLES.get(k, k), [k]) for k in keys if k in PANEL_TITLES]
    for scope, panel_title in ACCURACY_PANELS:
        group_keys = [f"{m}_accuracy_on_{scope}" for m in MODELS]
        if any(k in keys for k in group_keys):
            panels.append((panel_title, group_keys))
    panels += [(k, [k]) for k in keys if k not in PANEL_TITLES and k not in accuracy_keys]
    cols = min(4, len(panels))
    nrows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.0 * cols, 2.6 * nrows + 0.35 + _legend_height(len(rows))), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    width = 0.8 / max(1, len(rows))
    for ax, (panel_title, panel_keys) in zip(axes, panels):
        for i, row in enumerate(rows):
            stats = [row_stat(row, k) for k in panel_keys]
            xs = np.arange(len(panel_keys)) + (i - (len(rows) - 1) / 2) * width
            means = [np.nan if s.mean is None else s.mean for s in stats]
            errs = [0.0 if s.std is None else s.std for s in stats]
            ax.bar(xs, means, width, yerr=errs, capsize=2, color=f"C{i % 10}", label=row.label)
        for x, key in enumerate(panel_keys):  # e.g. the retrain reference never learnt the unlearned tasks
            if all(row_stat(row, key).mean is None for row in rows):
                ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7, color="0.4")
        if len(panel_keys) > 1:
            ax.set_xticks(range(len(panel_keys)), [MODELS[k.split("_accuracy_on_")[0]] for k in panel_keys], fontsize=7)
            ax.set_ylim(0, 1.02)
        else:
            ax.set_xticks([])
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(textwrap.fill(panel_title, 34), fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    _legend_below(fig, axes[0], len(rows))
    fig.suptitle(f"unlearning — {title}", fontsize=9)
    return fig


def row_stat(row: Row, key: str) -> Stat:
    """Mean ± std over seeds of one `unlearning.json` value."""
    return stat(r.unlearning.get(key) for r in row.runs)
