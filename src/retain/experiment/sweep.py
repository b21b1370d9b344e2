"""Sweeps: one run folder per combination of grid values, run by a launcher, resumable after a crash.

A sweep folder holds `sweep.json` (the base config, the grid and the point names) and one run folder
per point, named from the point's grid values (`algorithm.name-lwf_seed-1`). Re-running the same sweep
skips every point whose `summary.json` exists (written last, atomically, so it marks a finished run).
A point folder without `summary.json` was left by a crash or a kill: it is moved aside to
`<name>.incomplete-<n>` (kept for inspection, never read by `retain report`) and the point runs again.
The sweep holds the sweep folder's lock while it runs (a second identical sweep fails at once), and
each point's run holds its own folder's lock; worker processes die with the sweep (`launchers`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retain.config import apply_overrides, set_key
from retain.config.grid import parse_grid as parse_grid  # public here too: `sweep(base, parse_grid(items), out)`
from retain.errors import ConfigError, RetainError, RunInterrupted, one_of
from retain.experiment.build import config_from_dict, keep_own_hyperparameters
from retain.experiment.launchers import LAUNCHERS
from retain.experiment.point import SweepPoint, resumable
from retain.runs.lock import FolderLock, held_by_other
from retain.runs.store import atomic_write_text, set_aside


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: the points it ran, skipped as finished, and the failures (name → message)."""

    root: Path
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: dict[str, str]


def _slug(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "empty"


def point_name(assignments: Sequence[tuple[str, Any]]) -> str:
    """The folder name of one point: `key-value` pairs in grid order, joined by `_`."""
    return "_".join(f"{key}-{_slug(value)}" for key, value in assignments) or "run"


def expand(base: Mapping[str, Any], grid: Sequence[tuple[str, Sequence[Any]]]) -> list[SweepPoint]:
    """Every combination of the grid applied to `base` (the last grid axis varies fastest)."""

    keys = [k for k, _ in grid]
    points = []
    for combo in itertools.product(*(values for _, values in grid)):
        assignments = tuple(zip(keys, combo))
        data = apply_overrides(base, [])  # no overrides: a deep copy, the caller's mapping stays as it is
        for key, value in assignments:
            set_key(data, key, value)
        data["out"] = None  # the sweep decides where each point writes
        if "algorithm.name" in keys:  # a config written for LwF can sweep algorithm.name=finetuning,lwf
            data = keep_own_hyperparameters(data, data["algorithm"]["name"])
        points.append(SweepPoint(point_name(assignments), assignments, data))
    names = [p.name for p in points]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise ConfigError(
            "--grid", clash, "two points get the same folder name: make the values differ in letters or digits"
        )
    return points


def validate(points: Sequence[SweepPoint]) -> None:
    """Check every point's config before anything runs; the error names the point."""
    for point in points:
        try:
            config_from_dict(point.data)
        except ConfigError as err:
            raise ConfigError(err.key, err.value, f"{err.valid} (in sweep point {point.name})") from None


def prepare_folder(
    root: Path, base: Mapping[str, Any], grid: Sequence[tuple[str, Sequence[Any]]], points: Sequence[SweepPoint]
) -> None:
    """Write `sweep.json`, refusing a folder that holds a different sweep (another base config or grid)."""
    record = {"base": base, "grid": [[k, list(v)] for k, v in grid], "points": [p.name for p in points]}
    path = root / "sweep.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("base") != json.loads(json.dumps(base)) or old.get("grid") != json.loads(json.dumps(record["grid"])):
            raise RetainError(
                f"out = '{root}' holds a different sweep (its sweep.json has another config or grid): "
                f"choose another --out, or re-run with the same --config/--set/--grid to resume it"
            )
    elif root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise RetainError(f"out = '{root}' exists, is not empty and holds no sweep.json: choose another --out")
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def pending(root: Path, points: Sequence[SweepPoint]) -> tuple[list[SweepPoint], list[SweepPoint]]:
    """Split points into (to run, finished). A folder an interrupted run left with a checkpoint is kept
    (the point resumes from it, `run_point`); one without any checkpoint is moved aside."""
    todo, done = [], []
    for point in points:
        folder = root / point.name
        if (folder / "summary.json").exists():
            done.append(point)
            continue
        if folder.exists() and not resumable(folder) and not held_by_other(folder):
            set_aside(folder, "incomplete")  # a folder someone is writing is left to fail as locked
        todo.append(point)
    return todo, done


def sweep(
    base: Mapping[str, Any],
    grid: Sequence[tuple[str, Sequence[Any]]],
    root: str | Path,
    *,
    jobs: int = 1,
    launcher: str = "local",
    on_done: Callable[[str, str | None], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Run every point of `grid` over `base` into `root`, skipping points that already finished.

    Args:
        base: the config mapping every point starts from (as read from YAML with `--set` applied).
        grid: `(key, values)` pairs; every combination is one run.
        root: the sweep folder.
        jobs: how many runs at once (local launcher: worker processes; 1 runs them in this process).
        launcher: a name in `LAUNCHERS` (`local` or `submitit`).
        on_done: called with (point name, error message or None) as each point finishes.
        on_plan: called once before any point runs, with (points to run, points already finished).

    Returns:
        What ran, what was skipped and what failed. Failures do not stop the other points.

    Raises:
        RunInterrupted: SIGINT/SIGTERM stopped the sweep (each running point wrote its checkpoint);
            the same call continues it.
    """
    if launcher not in LAUNCHERS:
        raise ConfigError("--launcher", launcher, one_of(LAUNCHERS, launcher))
    if jobs < 1:
        raise ConfigError("--jobs", jobs, "must be >= 1")
    root = Path(root)
    points = expand(base, grid)
    validate(points)
    if root.is_symlink() and not root.exists() or root.exists() and not root.is_dir():
        raise RetainError(f"out = '{root}' is not a folder (a file or a dangling link): choose another --out")
    root.mkdir(parents=True, exist_ok=True)
    with FolderLock(root, what="sweep folder"):  # one sweep per folder; each point's run locks its own
        prepare_folder(root, base, grid, points)
        todo, done = pending(root, points)
        if on_plan:
            on_plan(len(todo), len(done))
        failed = _launch(LAUNCHERS[launcher], root, todo, jobs, on_done) if todo else {}
    return SweepOutcome(root, tuple(p.name for p in todo if p.name not in failed), tuple(p.name for p in done), failed)


def _launch(
    launch: Callable[..., None],
    root: Path,
    todo: Sequence[SweepPoint],
    jobs: int,
    on_done: Callable[[str, str | None], None] | None,
) -> dict[str, str]:
    """Run `todo` through the launcher; returns the failures (name → message). A signal stops the whole
    sweep with the command that continues it."""
    failed: dict[str, str] = {}

    def record(name: str, error: str | None) -> None:
        if error is not None:
            failed[name] = error
        if on_done:
            on_done(name, error)

    try:
        launch(root, todo, jobs, record)
    except RunInterrupted as err:
        raise RunInterrupted(
            f"sweep {root} interrupted ({len(failed)} failed so far). Continue it with the same command "
            f"(same --config/--set/--grid and --out {root}): finished points are skipped and interrupted "
            f"ones resume from their last checkpoint",
            err.signal_number,
        ) from None
    return failed
