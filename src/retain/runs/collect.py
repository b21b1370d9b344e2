"""Read finished run folders from disk and group them into report rows (mean ± std over seeds).

Only files are read (`summary.json`, `config.yaml`, optional `unlearning.json`): a report never
imports training code and works on run folders copied from another machine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retain.config import read_yaml_file
from retain.errors import ConfigError, RetainError
from retain.runs.labels import row_labels
from retain.runs.stats import Stat, stat

# Keys that vary between the seeds of one row and so never split rows; nor do the loggers (`logging.*`),
# which change what is recorded, not what is trained.
PER_SEED_KEYS = ("seed", "out", "benchmark.seed")
NOT_SETTINGS = ("logging.",)

# (summary key, header) of the table's metric columns, in order.
METRICS = (
    ("final_average_accuracy", "final avg acc"),
    ("average_incremental_accuracy", "avg incremental acc"),
    ("bwt", "BWT"),
    ("forgetting", "forgetting"),
    ("train_seconds", "train s"),
)


HEADLINE_UNLEARNING = (
    "ag",
    "dd",
    "unlearned_model_accuracy_on_unlearned",
    "unlearned_model_accuracy_on_remaining",
    "original_reference_accuracy_on_unlearned",
    "original_reference_accuracy_on_remaining",
    "retrain_reference_accuracy_on_unlearned",
    "retrain_reference_accuracy_on_remaining",
)


@dataclass(frozen=True)
class RunRecord:
    """One finished run as read from its folder."""

    path: Path
    summary: dict[str, Any]
    config: dict[str, Any]
    unlearning: dict[str, float] = field(default_factory=dict)

    @property
    def seed(self) -> Any:
        return self.summary.get("seed", self.config.get("seed"))

    def value(self, key: str) -> float | None:
        """A metric of this run; `train_seconds` is the sum of the per-task training times."""
        if key == "train_seconds":
            return float(sum(self.summary.get("train_seconds_per_task") or [])) or None
        value = self.summary.get(key)
        return None if value is None else float(value)


@dataclass(frozen=True)
class Row:
    """Runs that share everything but the seed: one algorithm (with its settings) in one table.

    `runs` holds one run per seed; `repeats` the other finished runs of a seed already in `runs` (the same
    config and seed run again): they are named in the report but never counted as further samples.
    """

    label: str
    runs: tuple[RunRecord, ...]
    repeats: tuple[RunRecord, ...] = ()

    @property
    def seeds(self) -> list[Any]:
        return [r.seed for r in self.runs]

    def metric(self, key: str) -> Stat:
        return stat(r.value(key) for r in self.runs)

    def by_seed(self, key: str) -> dict[Any, float | None]:
        """Seed → value of a metric (`summary.json` key, or `unlearning.json` key with `unlearning.`)."""
        if key.startswith("unlearning."):
            return {r.seed: r.unlearning.get(key.removeprefix("unlearning.")) for r in self.runs}
        return {r.seed: r.value(key) for r in self.runs}

    def mean_matrix(self) -> tuple[list[list[float]], list[list[float]]]:
        """Element-wise mean and std of the accuracy matrices (the lower triangle)."""
        matrices = [r.summary["accuracy_matrix"] for r in self.runs]
        num = min(len(m) for m in matrices)
        mean = [[stat(m[t][j] for m in matrices).mean for j in range(t + 1)] for t in range(num)]
        std = [[stat(m[t][j] for m in matrices).std for j in range(t + 1)] for t in range(num)]
        return mean, std  # type: ignore[return-value]

    def per_task(self, key: str) -> list[Stat]:
        """Mean ± std over seeds of a per-task list in `summary.json` (e.g. `forgetting_per_task`)."""
        lists = [r.summary.get(key) or [] for r in self.runs]
        num = min(len(values) for values in lists)
        return [stat(values[i] for values in lists) for i in range(num)]

    def unlearning_keys(self) -> list[str]:
        """The numeric keys of `unlearning.json`: the headline figures (AG, DD, accuracies on unlearned and
        remaining tasks) first in a fixed order, then any other top-level number; per-task breakdowns
        (`accuracy.*`, `dd_per_task.*`) stay in the files."""
        keys = {k for r in self.runs for k in r.unlearning if "." not in k}
        return [k for k in HEADLINE_UNLEARNING if k in keys] + sorted(keys - set(HEADLINE_UNLEARNING))


@dataclass(frozen=True)
class Table:
    """One benchmark × scenario: its rows in a stable order."""

    benchmark: str
    scenario: str
    rows: tuple[Row, ...]

    @property
    def title(self) -> str:
        return f"{self.benchmark} · {self.scenario}"


def find_runs(folders: Sequence[str | Path]) -> list[RunRecord]:
    """Every finished run (a folder with `summary.json`) in or below `folders`.

    Folders moved aside by a sweep (`*.incomplete-N`) are skipped; a folder named twice counts once.
    The unlearning reference runs kept in a run's `references/` folder are not rows of their own (their
    figures are in that run's `unlearning.json`), unless such a folder is named directly.
    """
    seen: dict[Path, RunRecord] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise RetainError(f"report: '{folder}' is not a folder (expected a run or sweep folder)")
        candidates = (
            [folder / "summary.json"] if (folder / "summary.json").exists() else sorted(folder.rglob("summary.json"))
        )
        found = [
            c.parent
            for c in candidates
            if not any(".incomplete-" in part for part in c.parent.parts) and not _is_reference(c.parent, folder)
        ]
        if not found:
            raise RetainError(f"report: '{folder}' holds no finished run (no summary.json in it or below it)")
        for path in found:
            seen.setdefault(path.resolve(), read_run(path))
    return list(seen.values())


def _is_reference(path: Path, named: Path) -> bool:
    """Whether `path` is a reference run inside another run's `references/` folder (below `named`)."""
    return path != named and path.parent.name == "references" and (path.parent.parent / "summary.json").exists()


def _check_summary(path: Path, summary: dict[str, Any]) -> None:
    """Refuse a summary whose matrix is not lower-triangular numbers, or whose timings or metrics are not
    numbers: a report reads them all, and a damaged file must be one error naming it."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    matrix = summary["accuracy_matrix"]
    if not all(len(row) == t + 1 and all(number(v) for v in row) for t, row in enumerate(matrix)):
        raise RetainError(f"report: '{path}' has a damaged accuracy_matrix: row t must hold t numbers (t = 1, 2, ...)")
    seconds = summary.get("train_seconds_per_task", [])
    if not (isinstance(seconds, list) and all(number(v) for v in seconds)):
        raise RetainError(f"report: '{path}' has a damaged train_seconds_per_task: expected a list of numbers")
    bad = [k for k in SUMMARY_NUMBERS if summary.get(k) is not None and not number(summary[k])]
    if bad:
        raise RetainError(f"report: '{path}' has a non-numeric {bad[0]} ({summary[bad[0]]!r})")


SUMMARY_NUMBERS = ("final_average_accuracy", "average_incremental_accuracy", "bwt", "forgetting", "total_seconds")


def read_run(path: Path) -> RunRecord:
    """Read one run folder; a broken file is an error naming it."""
    try:
        summary = json.loads((path / "summary.json").read_text())
        config_path = path / "config.yaml"
        config = read_yaml_file(config_path, "config.yaml") if config_path.exists() else {}
        unlearning_path = path / "unlearning.json"
        unlearning = json.loads(unlearning_path.read_text()) if unlearning_path.exists() else {}
    except (OSError, ValueError, ConfigError) as err:  # ConfigError: config.yaml unreadable or hostile
        raise RetainError(f"report: cannot read run folder '{path}': {' '.join(str(err).split())}") from None
    matrix = summary.get("accuracy_matrix") if isinstance(summary, dict) else None
    if not (isinstance(matrix, list) and matrix and all(isinstance(row, list) for row in matrix)):
        raise RetainError(
            f"report: '{path / 'summary.json'}' is not a retain run summary: expected a mapping with a "
            f"non-empty 'accuracy_matrix' (a list of rows)"
        )
    _check_summary(path / "summary.json", summary)
    if not isinstance(config, dict | None) or not isinstance(unlearning, dict):
        raise RetainError(f"report: '{path}' holds a config.yaml or unlearning.json that is not a mapping")
    return RunRecord(path, summary, config or {}, numeric_leaves(unlearning))


def numeric_leaves(data: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a nested mapping, keyed by its dotted path (lists index as `key.0`)."""
    if isinstance(data, bool):
        return {}
    if isinstance(data, int | float):
        return {prefix: float(data)} if prefix and math.isfinite(data) else {}
    items = data.items() if isinstance(data, Mapping) else enumerate(data) if isinstance(data, list) else ()
    out: dict[str, float] = {}
    for key, value in items:
        out.update(numeric_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config mapping as `{dotted.key: value}` (lists become tuples, so they compare)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        else:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


def group(runs: Sequence[RunRecord]) -> list[Table]:
    """Tables per (benchmark, scenario); within one, a row per config that differs in more than the seed.

    A row is labelled with its algorithm, plus the settings that tell it apart from other rows of the same
    algorithm, written for people (`retain.runs.labels`). Runs of a row that repeat a seed count once.
    """
    by_table: dict[tuple[str, str], dict[tuple, list[RunRecord]]] = {}
    for run in runs:
        table_key = (str(run.summary.get("benchmark", "?")), str(run.summary.get("scenario", "?")))
        identity: tuple[tuple[str, Any], ...] = tuple(
            sorted(
                (k, repr(v))
                for k, v in flatten(run.config).items()
                if k not in PER_SEED_KEYS and not k.startswith(NOT_SETTINGS)
            )
        )
        identity = identity or (("algorithm.name", repr(run.summary.get("algorithm"))),)
        by_table.setdefault(table_key, {}).setdefault(identity, []).append(run)
    tables = []
    for (benchmark, scenario), rows in sorted(by_table.items()):
        labels = row_labels({identity: _algorithm(runs[0]) for identity, runs in rows.items()})
        labelled = [_row(labels[identity], runs) for identity, runs in rows.items()]
        tables.append(Table(benchmark, scenario, tuple(sorted(labelled, key=lambda r: r.label))))
    return tables


def _algorithm(run: RunRecord) -> str:
    return str(run.summary.get("algorithm") or run.config.get("algorithm", {}).get("name", "?"))


def _row(label: str, runs: Sequence[RunRecord]) -> Row:
    """One run per seed (the first by folder path); the others of a seed are the row's repeats."""
    kept: dict[str, RunRecord] = {}
    repeats = []
    for run in sorted(runs, key=lambda r: str(r.path)):
        if str(run.seed) in kept:
            repeats.append(run)
        else:
            kept[str(run.seed)] = run
    return Row(label, tuple(sorted(kept.values(), key=_seed_order)), tuple(repeats))


def _seed_order(run: RunRecord) -> tuple[bool, int, str]:
    """Integer seeds in numeric order (2 before 10), anything else after them."""
    numeric = isinstance(run.seed, int) and not isinstance(run.seed, bool)
    return (not numeric, run.seed if numeric else 0, str(run.seed))
