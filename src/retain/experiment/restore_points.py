"""Which task checkpoints exact unlearning by rewind restores, and where it finds them.

A request (after task t, unlearn U) restores the checkpoint after the last task still learnt before
min(U); the retrain reference starts from the run's checkpoint before the first unlearned task of all.
`checkpoint.keep: all` keeps every task checkpoint; `reachable` keeps those (`restore_origins`) and the
last one (to resume), so a run with known requests keeps a few checkpoints instead of one per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from retain.config import Config
from retain.errors import CheckpointError, ConfigError
from retain.runs.checkpoint import task_checkpoints, task_file
from retain.scenarios.task import Benchmark

REWIND = "rewind"


def check_rewind(cfg: Config, write: bool) -> None:
    """Refuse, before training, a rewind that could not find the checkpoints it needs (`write` False: no
    run folder)."""
    if cfg.unlearning.method != REWIND or not cfg.unlearning.requests:
        return
    if not write:
        raise ConfigError(
            "unlearning.method",
            REWIND,
            "needs the task checkpoints of a run folder (not write=False)",
        )
    if cfg.checkpoint.keep == "last":
        raise ConfigError(
            "checkpoint.keep",
            cfg.checkpoint.keep,
            "unlearning.method: rewind restores older task checkpoints: use all or reachable",
        )
    unlearned: set[int] = set()
    for after, tasks in sorted(cfg.unlearning.requests.items()):
        unlearned |= set(tasks)
        if unlearned >= set(range(1, after + 1)):
            raise ConfigError(
                f"unlearning.requests.{after}", list(tasks), "rewind cannot unlearn every task learnt so far"
            )


def restore_origins(requests: Mapping[int, Sequence[int]]) -> frozenset[int]:
    """The original ids of the tasks whose checkpoints `requests` ({after: tasks}) will restore, for
    `checkpoint.keep: reachable`: per request, the last task before its first unlearned one that is still
    learnt then (a rewind's restore point), and the task before the first unlearned task of all (where the
    retrain reference starts). Task 0, the seeded initial model, needs no checkpoint."""
    origins: set[int] = set()
    unlearned: set[int] = set()
    for _, tasks in sorted(requests.items()):
        before = [t for t in range(1, min(tasks)) if t not in unlearned]
        origins.update(before[-1:])
        unlearned |= set(tasks)
    if unlearned and min(unlearned) > 1:
        origins.add(min(unlearned) - 1)
    return frozenset(origins)


def kept_ids(cfg: Config, world: Benchmark) -> frozenset[int]:
    """The ids, in `world`'s numbering, of the task checkpoints `checkpoint.keep: reachable` keeps."""
    origins = restore_origins(cfg.unlearning.requests)
    return frozenset(t.id for t in world.tasks if t.origin in origins)


def checkpoint_before(
    checkpoints: Path, world: Benchmark, first: int, earlier: Sequence[tuple[Path, Benchmark]] = ()
) -> tuple[int, Path | None]:
    """(k, the checkpoint after world task k), k the last world task before original task `first`
    (k = 0, None: start from the seeded initial model). A world's folder holds only the tasks it trained
    after its restore point; the earlier ones are in the folders it was rewound from (`earlier`: checkpoint
    folders with their worlds, oldest first), where a checkpoint serves if that world's first k tasks are
    this one's (the same tasks trained in the same order from the same state).

    Raises:
        CheckpointError: that checkpoint is in none of the folders (deleted, or never written)."""
    k = sum(1 for t in world.tasks if t.origin < first)
    if k == 0:
        return 0, None
    prefix = [t.origin for t in world.tasks[:k]]
    for folder, other in [(checkpoints, world), *reversed(earlier)]:
        found = task_checkpoints(folder).get(k)
        if found is not None and [t.origin for t in other.tasks[:k]] == prefix:
            return k, found
    raise CheckpointError(
        f"unlearning by rewind needs the checkpoint after task {k} ({checkpoints / task_file(k)}), which is missing"
    )
