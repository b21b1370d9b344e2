"""Resume: reopen a run folder at its last complete checkpoint and restore everything the loop needs.

The newest `task_XX.pt` is the last complete task; `progress.pt` is used instead when it belongs to
the task after it (a mid-task checkpoint, or one written on SIGINT/SIGTERM). Records that
`metrics.jsonl` received after that checkpoint are cut off, so the log reads as if the run had never
stopped. Opening a run folder with its config checked is `retain.experiment.resume.open_run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from retain.algorithms.base import Algorithm
from retain.config import Config, read_yaml_file
from retain.errors import CheckpointError, ConfigError
from retain.runs.checkpoint import PROGRESS_FILE, load_checkpoint, restore_rng, task_checkpoints
from retain.runs.store import RunFolder
from retain.scenarios.task import Benchmark
from retain.training.loop import ResumePoint, SequenceResult, TaskProgress

IGNORED_KEYS = ("out",)  # where a run is written is not part of what it computes


@dataclass
class ResumedRun:
    """A run folder opened for resuming: its config, and the checkpoint to continue from (None: start over)."""

    folder: RunFolder
    config: Config
    checkpoint: dict[str, Any] | None
    checkpoint_path: Path | None
    changed: list[str] = field(default_factory=list)


def latest_checkpoint(folder: RunFolder) -> tuple[dict[str, Any] | None, Path | None]:
    """The checkpoint to resume from (see the module docstring), loaded safely, or (None, None)."""
    tasks = task_checkpoints(folder.path / "checkpoints")
    last = max(tasks, default=0)
    progress_path = folder.path / "checkpoints" / PROGRESS_FILE
    if progress_path.exists():
        payload = load_checkpoint(progress_path)
        if payload["tasks_done"] == last:
            return payload, progress_path
    if last:
        return load_checkpoint(tasks[last]), tasks[last]
    return None, None


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """`key: old → new` for every leaf that differs between two plain configs (nested keys dotted)."""
    lines = []
    for key in sorted(set(old) | set(new), key=str):
        if not prefix and key in IGNORED_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += config_differences(a, b, name + ".")
        elif a != b:
            lines.append(f"{name}: {a!r} → {b!r}")
    return lines


def saved_config(folder: RunFolder) -> dict[str, Any]:
    path = folder.path / "config.yaml"
    try:
        data = read_yaml_file(path, "config.yaml")
    except ConfigError as err:
        raise CheckpointError(f"{err}; the run cannot be resumed") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a config mapping; the run cannot be resumed")
    return data


def restore(
    run: ResumedRun, algorithm: Algorithm, benchmark: Benchmark, generator: torch.Generator, device: torch.device
) -> ResumePoint | None:
    """Put the model, the algorithm, every random state and the log back where the checkpoint left them."""
    checkpoint = run.checkpoint
    if checkpoint is None:
        run.folder.truncate_jsonl("metrics.jsonl", 0)  # nothing finished: start over in the same folder
        return None
    done, saved = checkpoint["tasks_done"], checkpoint["progress"]
    model = algorithm.model.to(device)
    try:
        # Heads grow per task: re-create them (the task in progress included) before loading weights.
        for task in benchmark.tasks[: done + (saved is not None)]:
            model.heads.setup_task(task.id, task.num_classes)
        model.heads.to(device)
        model.load_state_dict(checkpoint["model"])
        algorithm.load_state_dict(checkpoint["algorithm"])
        restore_rng(checkpoint["rng"], generator)  # last: building heads above drew from the torch RNG
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {run.checkpoint_path} does not fit this run's model or algorithm ({first})"
        ) from None
    result = SequenceResult(
        [list(r) for r in checkpoint["accuracy_matrix"]], list(checkpoint["train_seconds_per_task"])
    )
    result.skipped_batches_per_task = list(checkpoint.get("skipped_batches_per_task", []))  # older files: none
    if len(result.accuracy_matrix) != done or done > benchmark.num_tasks:
        raise CheckpointError(f"checkpoint {run.checkpoint_path} is inconsistent: {done} tasks done")
    run.folder.truncate_jsonl("metrics.jsonl", checkpoint["metrics_bytes"])
    if saved is None:
        return ResumePoint(result)
    progress = TaskProgress(
        saved["epoch"],
        saved["step"],
        saved["optimizer"],
        None,
        {k: v.to(device) for k, v in saved["sums"].items()},
        saved["counted"],
        saved["skipped"],
        saved["seconds"],
        saved.get("skipped_before", 0),
    )
    return ResumePoint(result, progress)
