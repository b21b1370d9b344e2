"""`retain report --format csv|latex|markdown`: the report's tables as files for papers and spreadsheets.

- `tables.csv`: one line per (table, row, metric) with every number at full precision (mean, std, n, the
  interval and its method) and the paired comparison with the baseline (difference, interval, p);
- `tables.tex`: one booktabs `tabular` per table (`\\usepackage{booktabs}`), labels escaped;
- `tables.md`: the same tables as GitHub Markdown, without the figures and configs of `report.md`.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path

from retain.runs.collect import Table
from retain.runs.stats import Paired, Stat
from retain.runs.store import atomic_write_text
from retain.runs.tables import (
    Grid,
    baseline,
    comparisons,
    grids,
    result_metrics,
    row_stat,
    seeds_cell,
    unlearning_metrics,
)

FORMATS = {"csv": "tables.csv", "latex": "tables.tex", "markdown": "tables.md"}

CSV_HEADER = [
    "benchmark", "scenario", "algorithm", "seeds", "metric", "mean", "std", "n", "ci_low", "ci_high",
    "ci_method", "baseline", "diff_mean", "diff_ci_low", "diff_ci_high", "diff_n", "p_value",
]  # fmt: skip


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


def _stat_fields(value: Stat) -> list[str]:
    interval = value.low is not None
    method = value.method if interval else ""
    return [_num(value.mean), _num(value.std), str(value.n), _num(value.low), _num(value.high), method]


def _paired_fields(base: str, pair: Paired | None) -> list[str]:
    if pair is None:
        return ["", "", "", "", "", ""]
    d = pair.diff
    return [base, _num(d.mean), _num(d.low), _num(d.high), str(d.n), _num(pair.p)]


def csv_text(tables: Sequence[Table], baseline_name: str | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for table in tables:
        metrics = result_metrics() + unlearning_metrics(table)
        base = baseline(table, baseline_name)
        pairs = {row.label: ps for row, ps in comparisons(table, base, metrics)} if base else {}
        for row in table.rows:
            for i, metric in enumerate(metrics):
                pair = pairs[row.label][i] if row.label in pairs else None
                fields = [table.benchmark, table.scenario, row.label, seeds_cell(row), metric.key]
                base_label = base.label if base is not None else ""
                writer.writerow(fields + _stat_fields(row_stat(row, metric)) + _paired_fields(base_label, pair))
    return out.getvalue()


LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
LATEX_SYMBOLS = {
    "±": r"$\pm$",
    "·": r"$\cdot$",
    "–": "--",
    "—": "---",
    "×": r"$\times$",
    "<": r"$<$",
    ">": r"$>$",
    "−": "-",
}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table: specials escaped, the report's symbols in LaTeX notation."""
    table = LATEX_SPECIAL | LATEX_SYMBOLS | {"\\": r"\textbackslash{}"}
    return "".join(table.get(ch, ch) for ch in text)


def latex_text(tables: Sequence[Table], baseline_name: str | None) -> str:
    parts = ["% retain report tables; needs \\usepackage{booktabs}", ""]
    for table in tables:
        for grid in grids(table, baseline_name):
            parts += _latex_grid(grid)
    return "\n".join(parts)


def _latex_grid(grid: Grid) -> list[str]:
    cols = "l" + "r" * (len(grid.headers) - 1)
    lines = [
        "\\begin{table}[ht]",
        "\\centering",
        f"\\caption{{{latex_escape(grid.title)}}}",
        f"\\begin{{tabular}}{{{cols}}}",
        "\\toprule",
        " & ".join(latex_escape(h) for h in grid.headers) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(latex_escape(c) for c in row) + " \\\\" for row in grid.rows]
    return [*lines, "\\bottomrule", "\\end{tabular}", "\\end{table}", ""]


def md_text(text: object) -> str:
    """`text` from a file, inert in Markdown: HTML escaped, and the characters that make tables, code and
    links escaped (a name from a config cannot inject HTML, split a table row or open a link)."""
    return re.sub(r"([|`\[\]\\])", r"\\\1", html.escape(str(text)))


def md_fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so that `text` cannot close it."""
    return "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))


def markdown_grid(grid: Grid, heading: str = "###") -> list[str]:
    """A grid as a GitHub Markdown table under a heading: the row labels (first column) and the title
    made inert (`md_text`); in the value cells, HTML and `|` escaped (their interval brackets stay)."""

    def cells(values: Sequence[str]) -> str:
        first, *rest = values
        escaped = [html.escape(v).replace("|", "\\|") for v in rest]
        return "| " + " | ".join([md_text(first), *escaped]) + " |"

    lines = [f"{heading} {md_text(grid.title)}", "", cells(grid.headers), "|" + "---|" * len(grid.headers)]
    return [*lines, *(cells(row) for row in grid.rows), ""]


def markdown_text(tables: Sequence[Table], baseline_name: str | None) -> str:
    parts = ["# retain report tables", ""]
    for table in tables:
        for grid in grids(table, baseline_name):
            parts += markdown_grid(grid, "##")
    return "\n".join(parts)


WRITERS = {"csv": csv_text, "latex": latex_text, "markdown": markdown_text}


def export(tables: Sequence[Table], formats: Sequence[str], out: Path, baseline_name: str | None) -> list[Path]:
    """Write one file per format into `out` (atomically) and return their paths."""
    paths = []
    for name in dict.fromkeys(formats):
        path = out / FORMATS[name]
        atomic_write_text(path, WRITERS[name](tables, baseline_name))
        paths.append(path)
    return paths
