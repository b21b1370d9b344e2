"""Training a run's task sequence: its loggers, checkpoints, signal handling, progress bar and trackers,
and, for a rewinding run, the exact unlearning of `retain.experiment.rewind` after the first request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from rich.console import Console

from retain.algorithms import Algorithm
from retain.config import Config, config_to_dict
from retain.experiment.restore_points import REWIND, kept_ids
from retain.experiment.rewind import Rewound, StepHook, redo_rewinds, rewind_all, truncated
from retain.runs.checkpoint import CheckpointSession
from retain.runs.loggers import JsonlLogger, Loggers, ProgressLogger, TensorBoardLogger
from retain.runs.signals import stop_on_signals
from retain.runs.store import RunFolder
from retain.runs.trackers import Tracker
from retain.scenarios import Benchmark
from retain.training.distributed import Distributed
from retain.training.loop import LoopLogger, LoopSession, ResumePoint, SequenceResult, run_sequence
from retain.training.session import Watch


@dataclass(frozen=True)
class Trained:
    """What is trained and where: the algorithm (its model), the benchmark, the data RNG, device and ranks."""

    algorithm: Algorithm
    benchmark: Benchmark
    generator: torch.Generator
    device: torch.device
    ranks: Distributed
    watch: Watch | None = None  # one more logger, kept by the checkpoints (the attack after each request)


def train_all(
    cfg: Config,
    trained: Trained,
    folder: RunFolder | None,
    start: tuple[ResumePoint | None, float],
    bar_console: Console | None,
    label: str,
    step_hook: StepHook | None,
    trackers: Sequence[LoopLogger] = (),
) -> tuple[SequenceResult, Trained, Rewound | None]:
    """Train the whole sequence; a rewinding run trains up to its first request, then serves every request
    by rewinding (its result, algorithm and world replace the plain ones). Returns the result, what was
    trained, and the rewind (None for a run that does not rewind)."""
    start_at, elapsed = start
    if cfg.unlearning.method != REWIND or not cfg.unlearning.requests:
        return _train(cfg, trained, folder, start_at, elapsed, bar_console, label, step_hook, trackers), trained, None
    assert folder is not None  # check_rewind: a rewinding run has a folder
    first = truncated(trained.benchmark, min(cfg.unlearning.requests))
    seg = _train(cfg, replace(trained, benchmark=first), folder, start_at, elapsed, None, label, step_hook, trackers)
    redo_rewinds(folder.path)
    start_rewinds = Rewound(seg, trained.algorithm, trained.benchmark, folder)
    rewound = rewind_all(cfg, trained.benchmark, start_rewinds, trained.device, step_hook)
    return rewound.result, replace(trained, algorithm=rewound.algorithm, benchmark=rewound.world), rewound


def _train(
    cfg: Config,
    trained: Trained,
    folder: RunFolder | None,
    start_at: ResumePoint | None,
    elapsed: float,
    bar_console: Console | None,
    label: str,
    step_hook: StepHook | None,
    trackers: Sequence[LoopLogger] = (),
) -> SequenceResult:
    """Train the task sequence with the run's loggers, checkpoints, signal handling and progress bar."""
    loggers: list[LoopLogger] = [JsonlLogger(folder)] if folder else []
    loggers += trackers
    if trained.watch is not None:
        loggers.append(trained.watch)
    session = LoopSession()
    if folder:
        every, keep = cfg.checkpoint.every_epochs, cfg.checkpoint.keep
        keep_ids = kept_ids(cfg, trained.benchmark)
        session = CheckpointSession(
            folder, config_to_dict(cfg), every, keep, elapsed, step_hook, trained.watch, keep_ids
        )
    with contextlib.ExitStack() as stack:
        if folder and cfg.logging.tensorboard:
            board = TensorBoardLogger(folder.path / "tensorboard")
            stack.callback(board.close)
            loggers.append(board)
        if folder:
            stack.enter_context(stop_on_signals(session))
        if bar_console is not None:
            bar = stack.enter_context(ProgressLogger(bar_console, trained.benchmark.num_tasks, cfg.train.epochs, label))
            bar.skip(_epochs_done(start_at, cfg.train.epochs))
            loggers.append(bar)
        return run_sequence(
            trained.algorithm, trained.benchmark, cfg.train, trained.generator, trained.device, Loggers(*loggers),
            session, start_at, trained.ranks,
        )  # fmt: skip


@contextlib.contextmanager
def closing(trackers: Sequence[Tracker]) -> Iterator[None]:
    """Close every tracker run at the end, marked failed when the run raised (or was interrupted)."""
    try:
        yield
    except BaseException:
        for tracker in trackers:
            tracker.close(failed=True)
        raise
    for tracker in trackers:
        tracker.close()


def _epochs_done(start_at: ResumePoint | None, epochs: int) -> int:
    if start_at is None:
        return 0
    return len(start_at.result.accuracy_matrix) * epochs + (start_at.progress.epoch if start_at.progress else 0)
