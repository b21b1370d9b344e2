"""`retain report`: `report.md`, a self-contained `report.html` and a terminal table from run folders.

The page holds, per benchmark × scenario, the table of mean ± std over seeds, the figures, and the exact
config of each row (linked, and shown inline). Figures are also written as PNG files under `figures/`
for the Markdown page; the HTML page embeds them as base64, so it can be mailed or attached as one file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from retain.errors import RetainError
from retain.runs.collect import Row, Table, find_runs, group
from retain.runs.exports import FORMATS, export, markdown_grid, md_fence, md_text
from retain.runs.html import html_page
from retain.runs.sections import NOTE, Section, config_text, draw, rel, repeats_note
from retain.runs.store import atomic_write_text
from retain.runs.tables import check_baseline, grids


@dataclass(frozen=True)
class Report:
    """What `write_report` wrote."""

    markdown: Path
    html: Path
    sections: tuple[Section, ...]
    exports: tuple[Path, ...] = ()


def markdown(sections: Sequence[Section], out: Path, sources: Sequence[Path], baseline: str | None = None) -> str:
    lines = [
        "# retain report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from: " + ", ".join(md_text(s) for s in sources) + ".",
        "",
        NOTE,
        "",
    ]
    for section in sections:
        table = section.table
        lines += [f"## {md_text(table.title)}", ""]
        for grid in grids(table, baseline):
            lines += markdown_grid(grid)
        lines += ["Configs: " + "; ".join(f"{md_text(row.label)}: " + _md_links(row, out) for row in table.rows), ""]
        lines += repeats_note(table)
        for fig in section.figures:
            lines += [f"![{md_text(fig.title)}]({rel(fig.path, out)})", ""]
        for row in table.rows:
            text = config_text(row).rstrip()
            summary = f"<details><summary>config of {md_text(row.label)}</summary>"
            lines += [summary, "", md_fence(text) + "yaml", text, md_fence(text), "", "</details>", ""]
    return "\n".join(lines)


def _md_links(row: Row, out: Path) -> str:
    return " ".join(f"[seed {r.seed}]({rel(r.path / 'config.yaml', out)})" for r in row.runs)


def terminal_tables(tables: Sequence[Table], baseline: str | None = None) -> list[RichTable]:
    """The report's tables for the terminal (rich); the interval goes under the mean ± std."""
    out = []
    for table in tables:
        for grid in grids(table, baseline, sep="\n", unlearning=False):
            rich_table = RichTable(title=grid.title)
            for i, header in enumerate(grid.headers):
                rich_table.add_column(header, justify="left" if i == 0 else "right")
            for row in grid.rows:
                rich_table.add_row(*row)
            out.append(rich_table)
    return out


def write_report(
    folders: Sequence[str | Path],
    out: str | Path | None = None,
    console: Console | None = None,
    *,
    formats: Sequence[str] = (),
    baseline: str | None = None,
) -> Report:
    """Read the runs in `folders` (run or sweep folders) and write `report.md` and `report.html` to `out`.

    Args:
        folders: run folders, sweep folders, or any folder with finished runs below it.
        out: where the report goes; default `<folder>/report` for one folder (required for several).
        console: where the terminal tables go (default: the terminal; for tests, a
            `Console(file=io.StringIO())`).
        formats: also write the tables as `csv`, `latex` and/or `markdown` files (`retain.runs.exports`).
        baseline: the row (label, or algorithm with one row) the paired comparisons are against; default
            each table's first row.
    """
    sources = [Path(f) for f in folders]
    if not sources:
        raise RetainError("report: give at least one run or sweep folder")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise RetainError(f"report: --format {unknown[0]!r} is not one of {', '.join(FORMATS)}")
    if out is None:
        if len(sources) > 1:
            raise RetainError("report: --out is required when several folders are given")
        out = sources[0] / "report"
    out = Path(out)
    tables = group(find_runs(sources))
    check_baseline(tables, baseline)
    sections = tuple(Section(t, draw(t, out / "figures")) for t in tables)
    md_path, html_path = out / "report.md", out / "report.html"
    atomic_write_text(md_path, markdown(sections, out, sources, baseline))
    atomic_write_text(html_path, html_page(sections, out, sources, baseline))
    exported = export(tables, formats, out, baseline)
    console = console or Console()
    for rich_table in terminal_tables(tables, baseline):
        console.print(rich_table)
    console.print(f"report: {html_path} and {md_path}" + "".join(f", {p}" for p in exported))
    return Report(md_path, html_path, sections, tuple(exported))
