"""The parts of a report page: its sections (a table with its rendered figures) and shared page text."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

import retain.runs.figures as figures
from retain.runs.collect import Row, Table
from retain.runs.exports import md_text
from retain.runs.store import atomic_write_bytes


@dataclass(frozen=True)
class ReportFigure:
    """One rendered figure of the report."""

    title: str
    path: Path
    png: bytes


@dataclass(frozen=True)
class Section:
    """One table of the report with its figures."""

    table: Table
    figures: tuple[ReportFigure, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def draw(table: Table, folder: Path) -> tuple[ReportFigure, ...]:
    """Render every figure of one table into `folder` (PNG) and return them."""
    rows, base = table.rows, _slug(table.title)
    specs = [
        (
            f"average accuracy after each task — {table.title}",
            "average-accuracy",
            figures.average_accuracy_figure(rows, table.title),
        )
    ]
    for row in rows:
        mean, _ = row.mean_matrix()
        title = f"accuracy matrix — {row.label}, mean of {len(row.runs)} seed(s)"
        figure = figures.accuracy_matrix_figure(mean, title, _unlearning_marks(row))
        specs.append((title, f"matrix-{_slug(row.label)}", figure))
    specs.append((f"accuracy on each task — {table.title}", "per-task", figures.per_task_figure(rows, table.title)))
    if len(rows[0].mean_matrix()[0]) > 1:
        specs.append(
            (f"forgetting per task — {table.title}", "forgetting", figures.forgetting_figure(rows, table.title))
        )
    keys = sorted({k for row in rows for k in row.unlearning_keys()})
    if keys:
        specs.append((f"unlearning — {table.title}", "unlearning", figures.unlearning_figure(rows, keys, table.title)))
    out = []
    for title, name, fig in specs:
        path = folder / f"{base}-{name}.png"
        png = figures.png_bytes(fig)
        atomic_write_bytes(path, png)
        out.append(ReportFigure(title, path, png))
    return tuple(out)


def _unlearning_marks(row: Row) -> dict[int, str]:
    """Rows of the matrix after which tasks were unlearned (the seeds of one row share their requests)."""
    events = row.runs[0].summary.get("unlearning_events") or {}
    return {int(t): "unlearned " + ", ".join(map(str, us)) for t, us in events.items()}


def config_text(row: Row) -> str:
    """The row's config as its first run saved it (the other seeds differ only in `seed`)."""
    path = row.runs[0].path / "config.yaml"
    return path.read_text() if path.exists() else yaml.safe_dump(row.runs[0].config, sort_keys=False)


def rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


NOTE = (
    "Values are mean ± sample standard deviation (n − 1) over seeds, then the 95 % confidence interval of the "
    "mean in brackets (Student t; percentile bootstrap from 20 seeds on); n is the seed count unless a cell says "
    "otherwise. Paired differences are row − baseline over the seeds both have, with their 95 % interval and "
    "the paired t-test's p-value. Accuracies are fractions (0–1); train s is the training time summed over "
    "tasks, in seconds."
)


def repeats_note(table: Table) -> list[str]:
    """Runs that repeat a seed of their row: named, and not counted as samples."""
    repeats = [(row, run) for row in table.rows for run in row.repeats]
    if not repeats:
        return []
    named = ", ".join(f"{md_text(run.path)} ({md_text(row.label)}, seed {run.seed})" for row, run in repeats)
    return [f"Not counted (a seed already counted in their row, run again): {named}.", ""]
