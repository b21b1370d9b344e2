"""The task loop: train each task in turn, then test every task seen so far (one accuracy-matrix row).

The loop knows nothing about files: it reports to a `LoopLogger` and hands checkpoints and stop
requests to a `LoopSession` (`retain.runs.checkpoint.CheckpointSession` writes them to a run folder).
A run can start from a `ResumePoint`: the tasks already done, and how far the next task got.
One optimisation step is `retain.training.step.Step`; the resume state is `retain.training.progress`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from retain.algorithms.base import Algorithm
from retain.errors import ConfigError
from retain.scenarios.task import Benchmark, Task
from retain.training.batch import Batches, TrainingData
from retain.training.data import DeviceBatches, LoaderBatches, input_spec
from retain.training.distributed import Distributed, release_wrappers, synchronise_batchnorm
from retain.training.evaluate import accuracy
from retain.training.features import Convert, features_as_inputs, features_once, test_features
from retain.training.placement import DataPath, choose_data_path
from retain.training.progress import ResumePoint, SequenceResult, TaskProgress
from retain.training.selection import BestEpoch
from retain.training.session import LoopLogger, LoopSession
from retain.training.step import EpochTally, Step, check_finite, check_skipped, skip_warning

if TYPE_CHECKING:
    from retain.config import TrainConfig
    from retain.models.model import ContinualModel
    from retain.models.pretrained import InputSpec

# the loop's own names, and those it hands to its callers (`retain.runs`, the API) from its modules
__all__ = [
    "LoopLogger",
    "LoopSession",
    "ResumePoint",
    "SequenceResult",
    "TaskProgress",
    "TaskRun",
    "resolve_device",
    "run_sequence",
    "train_task",
]


def resolve_device(name: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", name, "no CUDA device is available here: use 'auto' or 'cpu'")
    return torch.device(name)


@dataclass
class TaskRun:
    """The run around one task's training: whom it reports to, where its checkpoints and stop requests
    go, the results so far, the data-parallel ranks, and how far an earlier run got with the task."""

    logger: LoopLogger = field(default_factory=LoopLogger)
    session: LoopSession = field(default_factory=LoopSession)
    result: SequenceResult = field(default_factory=SequenceResult)
    dist: Distributed = field(default_factory=Distributed)
    progress: TaskProgress | None = None
    started: float = field(init=False)  # perf_counter value at which the task's training time began

    def __post_init__(self) -> None:
        self.started = time.perf_counter() - (self.progress.seconds if self.progress else 0.0)

    def seconds(self) -> float:
        """Training time spent on the task so far, that of an earlier run included."""
        return time.perf_counter() - self.started


def train_task(
    algorithm: Algorithm,
    data: Batches,
    task: Task,
    cfg: TrainConfig,
    generator: torch.Generator,
    run: TaskRun | None = None,
    val: Batches | None = None,
) -> int:
    """Run up to `cfg.epochs` epochs of `algorithm.training_step` on `data` with a fresh optimizer.

    With `run.progress`, continue a task from where a checkpoint left it (optimizer state, epoch, step).
    With a validation set `val`, each epoch also reports `val_acc`; at the end the model is restored to
    the epoch of best validation accuracy, and training stops early after `cfg.patience` epochs without
    improvement. Returns the epoch whose weights the model ends with (0 for an algorithm that does not
    train: `algorithm.trains` False, no epoch is run). Non-finite losses follow
    `cfg.on_nan` (see `Step`).
    """
    if not algorithm.trains:
        return 0  # no epoch: the algorithm took what it needs in `on_training_data`
    run = run or TaskRun()
    progress = run.progress or TaskProgress()
    step = Step(algorithm, cfg, run.dist, data.device)
    if progress.optimizer is not None:
        step.optimizer.load_state_dict(progress.optimizer)
    best = BestEpoch(val, cfg.epochs)
    algorithm.model.train()
    skips = _Skips(progress.skipped_before)
    for epoch in range(progress.epoch + 1, cfg.epochs + 1):
        start = time.perf_counter()
        first_step, sums, counted, skipped = progress.epoch_start(epoch)
        tally = EpochTally(data.device, generator.get_state(), sums, counted, skipped)
        batches = _steps(
            (algorithm, step), data, (task, epoch, first_step), cfg.batch_size, generator, run, tally, skips
        )
        if step.skip_bad:
            check_skipped(tally.skipped, batches, task, epoch)
            skips.add(tally.skipped, epoch * batches)
        terms = step.epoch_terms(tally, task, epoch)
        val_acc = best.update(algorithm, task, epoch, cfg.eval_batch_size, run.dist)
        if val_acc is not None:
            terms["val_acc"] = val_acc
        run.logger.on_epoch(task.id, epoch, terms, time.perf_counter() - start)
        if best.patience_exhausted(epoch, cfg.patience):
            break
        if epoch < cfg.epochs:
            state = TaskProgress(epoch, 0, step.optimizer.state_dict(), generator.get_state(), seconds=run.seconds())
            state.skipped_before = skips.before
            run.session.after_epoch(task, algorithm, run.result, generator, state)
    if step.skip_bad:
        run.result.skipped_batches_per_task.append(skips.before)
        _warn_skips(skips, task, cfg.skip_warn_fraction)
    return best.restore(algorithm)


def _steps(
    stepping: tuple[Algorithm, Step],
    data: Batches,
    where: tuple[Task, int, int],
    batch_size: int,
    generator: torch.Generator,
    run: TaskRun,
    tally: EpochTally,
    skips: _Skips,
) -> int:
    """One epoch's steps from step `first` on (`where` = task, epoch, first); a stop request checkpoints
    mid-epoch before the next step. Returns the number of batches the epoch has had."""
    algorithm, step = stepping
    task, epoch, first = where
    steps, batches = -(-len(data) // batch_size), first
    for index, batch in enumerate(data.shuffled(batch_size, generator, first), start=first):
        run.session.before_step(task.id, epoch, index)
        if run.session.stop_signal is not None:
            check_finite(tally.first_bad.item(), task, epoch)
            state = tally.progress(epoch - 1, index, step.optimizer.state_dict(), run.seconds())
            state.skipped_before = skips.before
            run.session.interrupt(task, algorithm, run.result, generator, state)
        step(batch, task, index, tally)
        run.logger.on_step(task.id, epoch, index + 1, steps)
        batches = index + 1
    return batches


def _warn_skips(skips: _Skips, task: Task, fraction: float) -> None:
    message = skip_warning(skips.before, skips.batches, task, fraction)
    if message:
        warnings.warn(message, RuntimeWarning, stacklevel=3)  # at train_task's caller, as before


@dataclass
class _Skips:
    """`train.on_nan=skip_batch`'s count for one task: batches skipped in its finished epochs, and how many
    batches those epochs had (every epoch of a task has the same number)."""

    before: int = 0
    batches: int = 0

    def add(self, skipped: int, batches_so_far: int) -> None:
        self.before += skipped
        self.batches = batches_so_far


def _learn_task(
    algorithm: Algorithm,
    where: tuple[Benchmark, Task],
    batches: Callable[..., Batches],
    progress: TaskProgress | None,
    cfg: TrainConfig,
    generator: torch.Generator,
    run: TaskRun,
) -> None:
    """Train one task (its data freed on return); with a frozen backbone on features computed once."""
    benchmark, task = where
    with features_once(algorithm.model.backbone) as cached:
        data, val = _start_task(algorithm, benchmark, task, batches, progress, cached)
        run.result.best_epoch_per_task.append(train_task(algorithm, data, task, cfg, generator, run, val))


def run_sequence(
    algorithm: Algorithm,
    benchmark: Benchmark,
    cfg: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
    logger: LoopLogger | None = None,
    session: LoopSession | None = None,
    resume: ResumePoint | None = None,
    dist: Distributed | None = None,
) -> SequenceResult:
    """Learn the tasks of `benchmark` in order and fill the accuracy matrix.

    The data path (`cfg.data_path`: device-resident or `DataLoader`) is chosen once for the run and
    recorded in the result with its reason.

    Args:
        session: checkpoints and stop requests (default: none).
        dist: the data-parallel ranks when launched by torchrun (default: one process).
        resume: continue after the tasks in `resume.result`; the model, the algorithm and every
            random state must already be restored (`retain.runs.resume`), including the head of a
            task in progress, whose `on_task_start` is then not called again.
    """
    logger, session, dist = logger or LoopLogger(), session or LoopSession(), dist or Distributed()
    model = _place_model(algorithm.model, cfg, device, dist)
    path = choose_data_path(benchmark, cfg.data_path, device)
    batches = _batch_factory(path, benchmark, cfg, device, input_spec(model))
    resume = resume or ResumePoint()
    result = resume.result
    result.data_path = path
    backbone = model.backbone

    def test_set(task: Task) -> Batches:  # a frozen backbone's test features, once per task
        return test_features(batches(_test_data(task), False), backbone)

    tests = {task.id: test_set(task) for task in resume.finished(benchmark.tasks)}
    for task, progress in resume.unfinished(benchmark.tasks):
        logger.on_task_start(task.id, cfg.epochs)
        _grow_heads(model, task, cfg.channels_last, device)
        run = TaskRun(logger, session, result, dist, progress)
        _learn_task(algorithm, (benchmark, task), batches, progress, cfg, generator, run)
        _end_task(algorithm, task, run, device)
        tests[task.id] = test_set(task)
        with features_as_inputs(backbone):
            row = [accuracy(algorithm, tests[j], j, task.id, cfg.eval_batch_size, dist) for j in sorted(tests)]
        result.accuracy_matrix.append(row)
        logger.on_evaluation(task.id, row)
        session.after_task(task, algorithm, result, generator)
        if session.stop_signal is not None and len(result.accuracy_matrix) < benchmark.num_tasks:
            session.interrupt(task, algorithm, result, generator, None)
    return result


def _place_model(model: ContinualModel, cfg: TrainConfig, device: torch.device, dist: Distributed) -> ContinualModel:
    """Move the model to `device`, with synchronised BatchNorm and a compiled backbone when asked."""
    model = model.to(device)
    synchronise_batchnorm(model, dist, device, cfg.sync_batchnorm)
    if cfg.compile:  # in place: parameter names, checkpoints and snapshots stay as they are
        model.backbone.compile(backend=cfg.compile_backend)
    return model


def _batch_factory(
    path: DataPath, benchmark: Benchmark, cfg: TrainConfig, device: torch.device, spec: InputSpec | None
) -> Callable[[TrainingData, bool], Batches]:
    """A function (data, augment) → batches on the chosen path (`device` or `loader`), in the inputs of a
    pretrained backbone's `spec` when it has one."""
    if path.name == "loader":
        return lambda data, augment: LoaderBatches(
            data, benchmark.mean, benchmark.std, device, augment, cfg.num_workers, spec
        )
    return lambda data, augment: DeviceBatches(data, benchmark.mean, benchmark.std, device, augment, spec)


def _test_data(task: Task) -> TrainingData:
    return TrainingData(task.x_test, task.y_test)


def _grow_heads(model: ContinualModel, task: Task, channels_last: bool, device: torch.device) -> None:
    """Give the model the head of `task` (a no-op for a resumed task: its head exists) on `device`."""
    model.heads.setup_task(task.id, task.num_classes)
    model.heads.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)


def _start_task(
    algorithm: Algorithm,
    benchmark: Benchmark,
    task: Task,
    batches: Callable[[TrainingData, bool], Batches],
    progress: TaskProgress | None,
    cached: Convert,
) -> tuple[Batches, Batches | None]:
    """Start `task` (unless resumed inside it) and put its training and validation data on the data path
    (as features when `cached` applies)."""
    if progress is None:
        algorithm.on_task_start(task)
    data = batches(algorithm.training_data(benchmark, task), benchmark.augment)
    val = None
    if task.has_validation:
        assert task.x_val is not None and task.y_val is not None  # a validation split holds both
        val = batches(TrainingData(task.x_val, task.y_val), False)
    data, val = cached(data, val)
    algorithm.on_training_data(data)
    return data, val


def _end_task(algorithm: Algorithm, task: Task, run: TaskRun, device: torch.device) -> None:
    """End `task` after its last update and record its training time."""
    if run.dist.active:
        release_wrappers()  # this task's DDP wrapper, before the next one is built
    algorithm.on_task_end(task)
    if device.type == "cuda":  # the time must include the queued device work
        torch.cuda.synchronize(device)
    run.result.train_seconds_per_task.append(run.seconds())
