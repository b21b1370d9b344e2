"""One point of a sweep: its config, and how a worker process runs it (resuming what a crash left)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retain.experiment.build import config_from_dict
from retain.experiment.run import run
from retain.runs.checkpoint import has_checkpoint


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
    """Run one point into `out` and return its summary (top level, so that spawned workers can pickle it)."""
    import torch

    if threads:
        torch.set_num_threads(threads)  # N workers share the cores instead of each taking all of them
    if resumable(Path(out)):  # a point an interrupted sweep left behind: finished tasks are not lost
        return run(config_from_dict(data), resume=out, progress=False).summary
    return run(config_from_dict(data), out=out, progress=False).summary


def default_threads(jobs: int) -> int:
    """Torch threads per worker so that `jobs` workers together use the machine's cores once."""
    return max(1, (os.cpu_count() or 1) // jobs)
