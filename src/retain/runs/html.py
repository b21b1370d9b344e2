"""The report as one self-contained HTML page: tables, figures inlined as base64 PNG, configs inline."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from pathlib import Path

from retain.runs.sections import NOTE, Section, config_text, rel, repeats_note
from retain.runs.tables import Grid, grids

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


def html_page(sections: Sequence[Section], out: Path, sources: Sequence[Path], baseline: str | None = None) -> str:
    """The report as one self-contained HTML page (figures inlined); every value from a file is escaped."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'><title>retain report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>retain report</h1>",
        f"<p class='note'>Generated {esc(time.strftime('%Y-%m-%d %H:%M:%S'))} from "
        + ", ".join(f"<code>{esc(str(s))}</code>" for s in sources)
        + f". {esc(NOTE)}</p>",
    ]
    for section in sections:
        parts += _html_section(section, out, baseline)
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_grid(grid: Grid, css: str) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in grid.headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in grid.rows)
    return f"<h3>{esc(grid.title)}</h3><table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_section(section: Section, out: Path, baseline: str | None) -> list[str]:
    """One benchmark × scenario: its tables (results, unlearning, paired), the figures and the configs."""
    esc = html.escape
    table = section.table
    parts = [f"<h2>{esc(table.title)}</h2>"]
    for i, grid in enumerate(grids(table, baseline)):
        parts.append(_html_grid(grid, "results" if i == 0 else "more"))
    links = "; ".join(
        esc(row.label)
        + ": "
        + " ".join(f"<a href='{esc(rel(r.path / 'config.yaml', out))}'>seed {esc(str(r.seed))}</a>" for r in row.runs)
        for row in table.rows
    )
    parts.append(f"<p class='note'>Configs: {links}</p>")
    parts += [f"<p class='note'>{esc(line)}</p>" for line in repeats_note(table) if line]
    parts.append("<div class='figures'>")
    for fig in section.figures:
        data = base64.b64encode(fig.png).decode("ascii")
        parts.append(
            f"<figure><img alt='{esc(fig.title)}' src='data:image/png;base64,{data}'><figcaption class='note'>{esc(fig.title)}</figcaption></figure>"
        )
    parts.append("</div>")
    for row in table.rows:
        parts.append(
            f"<details><summary>config of {esc(row.label)}</summary><pre>{esc(config_text(row))}</pre></details>"
        )
    return parts
