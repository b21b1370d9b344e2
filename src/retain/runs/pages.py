"""`retain report`: `report.md`, a self-contained `report.html` and a terminal table from run folders.

The page holds, per benchmark × scenario, the table of mean ± std over seeds, the figures, and the exact
config of each row (linked, and shown inline). Figures are also written as PNG files under `figures/`
for the Markdown page; the HTML page embeds them as base64, so it can be mailed or attached as one file.
"""

from __future__ import annotations

import base64
import html
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table as RichTable

import retain.runs.figures as figures
from retain.runs.collect import METRICS, Row, Table, find_runs, group
from retain.runs.store import atomic_write_bytes, atomic_write_text


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


@dataclass(frozen=True)
class Report:
    """What `write_report` wrote."""

    markdown: Path
    html: Path
    sections: tuple[Section, ...]


def seeds_cell(row: Row) -> str:
    """The seed count and the seeds, e.g. `3 (0, 1, 2)`."""
    return f"{len(row.runs)} ({', '.join(str(s) for s in row.seeds)})"


def metric_cells(row: Row) -> list[str]:
    return [row.metric(key).format(1 if key == "train_seconds" else 4) for key, _ in METRICS]


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


def _config_text(row: Row) -> str:
    """The row's config as its first run saved it (the other seeds differ only in `seed`)."""
    path = row.runs[0].path / "config.yaml"
    return path.read_text() if path.exists() else yaml.safe_dump(row.runs[0].config, sort_keys=False)


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _unlearning_columns(table: Table) -> list[str]:
    return sorted({k for row in table.rows for k in row.unlearning_keys()})


def _md(text: object) -> str:
    """`text` from a file, inert in Markdown: HTML escaped, and and the characters that make tables, code and links escaped."""
    return re.sub(r"([|`\[\]\\])", r"\\\1", html.escape(str(text)))


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so that `text` cannot close it."""
    return "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))


def markdown(sections: Sequence[Section], out: Path, sources: Sequence[Path]) -> str:
    headers = ["algorithm", "seeds", *[h for _, h in METRICS], "config"]
    lines = [
        "# retain report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from: " + ", ".join(_md(s) for s in sources) + ".",
        "",
        "Values are mean ± sample standard deviation (n − 1) over seeds; accuracies are fractions (0–1); "
        "train s is the training time summed over tasks, in seconds.",
        "",
    ]
    for section in sections:
        table = section.table
        lines += [f"## {_md(table.title)}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for row in table.rows:
            links = " ".join(f"[seed {r.seed}]({_rel(r.path / 'config.yaml', out)})" for r in row.runs)
            lines.append("| " + " | ".join([_md(row.label), seeds_cell(row), *metric_cells(row), links]) + " |")
        keys = _unlearning_columns(table)
        if keys:
            lines += [
                "",
                "Unlearning (`unlearning.json`):",
                "",
                "| algorithm | seeds | " + " | ".join(keys) + " |",
                "|" + "---|" * (len(keys) + 2),
            ]
            for row in table.rows:
                cells = [figures.row_stat(row, k).format() for k in keys]
                lines.append("| " + " | ".join([_md(row.label), seeds_cell(row), *cells]) + " |")
        lines.append("")
        for fig in section.figures:
            lines += [f"![{_md(fig.title)}]({_rel(fig.path, out)})", ""]
        for row in table.rows:
            text = _config_text(row).rstrip()
            summary = f"<details><summary>config of {_md(row.label)}</summary>"
            lines += [summary, "", _fence(text) + "yaml", text, _fence(text), "", "</details>", ""]
    return "\n".join(lines)


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; display: block; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0.5em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
"""


def html_page(sections: Sequence[Section], out: Path, sources: Sequence[Path]) -> str:
    """The report as one self-contained HTML page (figures inlined); every value from a file is escaped."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'><title>retain report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>retain report</h1>",
        f"<p class='note'>Generated {esc(time.strftime('%Y-%m-%d %H:%M:%S'))} from "
        + ", ".join(f"<code>{esc(str(s))}</code>" for s in sources)
        + ". Values are mean ± sample standard deviation (n − 1) over seeds; accuracies are fractions (0–1); "
        "train s is the training time summed over tasks, in seconds.</p>",
    ]
    for section in sections:
        parts += _html_section(section, out)
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_section(section: Section, out: Path) -> list[str]:
    """One benchmark × scenario: the results table, the unlearning table, the figures and the configs."""
    esc = html.escape
    table = section.table
    headers = ["algorithm", "seeds", *[h for _, h in METRICS], "config"]
    parts = [
        f"<h2>{esc(table.title)}</h2>",
        "<table class='results'><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead><tbody>",
    ]
    for row in table.rows:
        links = " ".join(
            f"<a href='{esc(_rel(r.path / 'config.yaml', out))}'>seed {esc(str(r.seed))}</a>" for r in row.runs
        )
        cells = [esc(row.label), esc(seeds_cell(row)), *map(esc, metric_cells(row))]
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + f"<td>{links}</td></tr>")
    parts.append("</tbody></table>")
    keys = _unlearning_columns(table)
    if keys:
        parts.append(
            "<h3>Unlearning</h3><table class='unlearning'><thead><tr><th>algorithm</th><th>seeds</th>"
            + "".join(f"<th>{esc(k)}</th>" for k in keys)
            + "</tr></thead><tbody>"
        )
        for row in table.rows:
            cells = [figures.row_stat(row, k).format() for k in keys]
            parts.append(
                f"<tr><td>{esc(row.label)}</td><td>{esc(seeds_cell(row))}</td>"
                + "".join(f"<td>{esc(c)}</td>" for c in cells)
                + "</tr>"
            )
        parts.append("</tbody></table>")
    parts.append("<div class='figures'>")
    for fig in section.figures:
        data = base64.b64encode(fig.png).decode("ascii")
        parts.append(
            f"<figure><img alt='{esc(fig.title)}' src='data:image/png;base64,{data}'><figcaption class='note'>{esc(fig.title)}</figcaption></figure>"
        )
    parts.append("</div>")
    for row in table.rows:
        parts.append(
            f"<details><summary>config of {esc(row.label)}</summary><pre>{esc(_config_text(row))}</pre></details>"
        )
    return parts


def terminal_tables(tables: Sequence[Table]) -> list[RichTable]:
    """The report's tables for the terminal (rich)."""
    out = []
    for table in tables:
        rich_table = RichTable(title=f"{table.title} (mean ± std over seeds)")
        rich_table.add_column("algorithm")
        rich_table.add_column("seeds", justify="right")
        for _, header in METRICS:
            rich_table.add_column(header, justify="right")
        for row in table.rows:
            rich_table.add_row(row.label, seeds_cell(row), *metric_cells(row))
        out.append(rich_table)
    return out


def write_report(
    folders: Sequence[str | Path], out: str | Path | None = None, console: Console | None = None
) -> Report:
    """Read the runs in `folders` (run or sweep folders) and write `report.md` and `report.html` to `out`.

    Args:
        folders: run folders, sweep folders, or any folder with finished runs below it.
        out: where the report goes; default `<folder>/report` for one folder (required for several).
        console: where the terminal tables go (default: the terminal; None-equivalent for tests: a
            `Console(file=io.StringIO())`).
    """
    from retain.errors import RetainError

    sources = [Path(f) for f in folders]
    if not sources:
        raise RetainError("report: give at least one run or sweep folder")
    if out is None:
        if len(sources) > 1:
            raise RetainError("report: --out is required when several folders are given")
        out = sources[0] / "report"
    out = Path(out)
    tables = group(find_runs(sources))
    sections = tuple(Section(t, draw(t, out / "figures")) for t in tables)
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, markdown(sections, out, sources))
    atomic_write_text(html_path, html_page(sections, out, sources))
    console = console or Console()
    for rich_table in terminal_tables(tables):
        console.print(rich_table)
    console.print(f"report: {html_path} and {md_path}")
    return Report(md_path, html_path, sections)
