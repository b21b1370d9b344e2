"""One point of a sweep: its config, and how a worker process runs it (resuming what a crash left)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retain.experiment.build import config_from_dict
from retain.experiment.run import run
from retain.runs.checkpoint import has_checkpoint
from retain.training.threads import usable_cores


@dataclass(frozen=True)
class SweepPoint:
    """One combination: its folder name, the `key=value` assignments and the full config mapping."""

    name: str
    assignments: tuple[tuple[str, Any], ...]
    data: dict[str, Any]


def resumable(folder: Path) -> bool:
    """Whether an unfinished run folder holds a checkpoint to resume from."""
    return not (folder / "summary.json").exists() and has_checkpoint(folder)


def run_point(data: dict[str, Any], out: str, threads: int | None = None) -> dict[str, Any]:
    """Run one point into `out` and return its summary (top level, so that spawned workers can pickle it).

    `threads` (in a worker process of a sweep with `--jobs N`): this worker's share of the cores. It goes
    to `OMP_NUM_THREADS` in this process, which `train.threads: auto` respects, so that N workers share
    the cores instead of each taking all of them; a smaller `OMP_NUM_THREADS` the user set is kept.
    """
    if threads:
        current = os.environ.get("OMP_NUM_THREADS", "")
        if not (current.isdigit() and 0 < int(current) < threads):
            os.environ["OMP_NUM_THREADS"] = str(threads)
    if resumable(Path(out)):  # a point an interrupted sweep left behind: finished tasks are not lost
        return run(config_from_dict(data), resume=out, progress=False).summary
    return run(config_from_dict(data), out=out, progress=False).summary


def default_threads(jobs: int) -> int:
    """Torch threads per worker so that `jobs` workers together use this process's usable cores once
    (its CPU affinity, capped by a cgroup quota: `retain.training.threads.usable_cores`)."""
    return max(1, usable_cores() // jobs)
