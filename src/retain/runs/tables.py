"""The report's tables as plain data: headers and cells for the pages, the terminal and the exports.

Three kinds per benchmark × scenario: the results (one row per algorithm, every metric as mean ± std with
its 95 % interval), the unlearning values when runs have `unlearning.json`, and the paired comparison of
every row against the baseline row over the seeds they share (`retain.runs.stats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retain.errors import RetainError
from retain.runs.collect import METRICS, Row, Table
from retain.runs.labels import unlearning_name
from retain.runs.stats import Paired, Stat, paired, stat


@dataclass(frozen=True)
class Metric:
    """A column: the value's key (`summary.json`, or `unlearning.<key>`), its header and its digits."""

    key: str
    header: str
    digits: int = 4


def result_metrics() -> list[Metric]:
    return [Metric(key, header, 1 if key == "train_seconds" else 4) for key, header in METRICS]


def unlearning_metrics(table: Table) -> list[Metric]:
    """The `unlearning.json` values of the table's rows, headline figures first (`Row.unlearning_keys`)."""
    keys: list[str] = []
    for row in table.rows:
        keys += [k for k in row.unlearning_keys() if k not in keys]
    return [Metric(f"unlearning.{k}", unlearning_name(k)) for k in keys]


def with_unlearning(table: Table) -> Table:
    """The rows of `table` that have `unlearning.json` values (the others have nothing to show there)."""
    return Table(table.benchmark, table.scenario, tuple(r for r in table.rows if r.unlearning_keys()))


def row_stat(row: Row, metric: Metric) -> Stat:
    return stat(row.by_seed(metric.key).values())


def stat_cell(value: Stat, digits: int, row_n: int, sep: str = " ") -> str:
    """`0.7500 ± 0.0500 [0.6258, 0.8742]`; with `n=2` added when fewer runs than the row's have the value."""
    if value.mean is None:
        return "–"
    n = f"{sep}n={value.n}" if value.n != row_n else ""
    return f"{value.format(digits)}{sep}{value.interval(digits)}{n}"


def seeds_cell(row: Row) -> str:
    """The seed count and the seeds, e.g. `3 (0, 1, 2)`; a seed run more than once is named and counted once."""
    text = f"{len(row.runs)} ({', '.join(str(s) for s in row.seeds)})"
    if row.repeats:
        counts: dict[str, int] = {}
        for run in row.repeats:
            counts[str(run.seed)] = counts.get(str(run.seed), 0) + 1
        repeated = ", ".join(f"seed {s} ×{c + 1}" for s, c in counts.items())
        text += f"; {repeated}, counted once"
    return text


def baseline(table: Table, name: str | None) -> Row | None:
    """The row the others are compared with: the one labelled `name` (or the only row of algorithm `name`),
    else the table's first row; None when `name` is not in this table."""
    if name is None:
        return table.rows[0]
    exact = [r for r in table.rows if r.label == name]
    by_algorithm = [r for r in table.rows if r.label.split(" (")[0] == name]
    if exact:
        return exact[0]
    if len(by_algorithm) == 1:
        return by_algorithm[0]
    return None


def check_baseline(tables: Sequence[Table], name: str | None) -> None:
    """`--baseline NAME` must name a row (or an algorithm with one row) of at least one table."""
    if name is None or any(baseline(t, name) is not None for t in tables):
        return
    labels = sorted({r.label for t in tables for r in t.rows})
    raise RetainError(f"report: --baseline {name!r} is no row of any table; rows: {', '.join(labels)}")


def comparisons(table: Table, base: Row, metrics: Sequence[Metric]) -> list[tuple[Row, list[Paired]]]:
    """Every other row against `base`, metric by metric, over the seeds both have."""
    reference = {m.key: base.by_seed(m.key) for m in metrics}
    return [(row, [paired(row.by_seed(m.key), reference[m.key]) for m in metrics]) for row in table.rows if row != base]


@dataclass(frozen=True)
class Grid:
    """A table ready to print: title, headers and cell rows (first cell the row label)."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def results_grid(table: Table, sep: str = " ") -> Grid:
    metrics = result_metrics()
    rows = [
        [row.label, seeds_cell(row), *[stat_cell(row_stat(row, m), m.digits, len(row.runs), sep) for m in metrics]]
        for row in table.rows
    ]
    return Grid(table.title, ["algorithm", "seeds", *[m.header for m in metrics]], rows)


def unlearning_grid(table: Table, sep: str = " ") -> Grid | None:
    table = with_unlearning(table)
    metrics = unlearning_metrics(table)
    if not metrics:
        return None
    rows = [
        [row.label, seeds_cell(row), *[stat_cell(row_stat(row, m), m.digits, len(row.runs), sep) for m in metrics]]
        for row in table.rows
    ]
    return Grid(f"unlearning — {table.title}", ["algorithm", "seeds", *[m.header for m in metrics]], rows)


def paired_grid(table: Table, name: str | None, unlearning: bool = False) -> Grid | None:
    """Differences row − baseline (mean, 95 % interval, paired t-test p, pairs); None without a baseline or
    with one row only. The unlearning comparison is among the rows that have unlearning values."""
    table = with_unlearning(table) if unlearning else table
    if not table.rows:
        return None
    base = baseline(table, name)
    metrics = unlearning_metrics(table) if unlearning else result_metrics()
    if base is None or len(table.rows) < 2 or not metrics:
        return None
    rows = [
        [row.label, *[p.format(m.digits) for p, m in zip(ps, metrics)]] for row, ps in comparisons(table, base, metrics)
    ]
    what = "unlearning, " if unlearning else ""
    title = f"paired difference vs {base.label} ({what}same seeds) — {table.title}"
    return Grid(title, ["algorithm", *[m.header for m in metrics]], rows)


def grids(table: Table, name: str | None, sep: str = " ", unlearning: bool = True) -> list[Grid]:
    """Every table of one benchmark × scenario, in page order (`unlearning=False`: results and their
    paired comparison only, as the terminal shows)."""
    found = [results_grid(table, sep), paired_grid(table, name)]
    if unlearning:
        found[1:1] = [unlearning_grid(table, sep)]
        found.append(paired_grid(table, name, unlearning=True))
    return [g for g in found if g is not None]
