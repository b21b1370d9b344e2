"""The task loop: train each task in turn, then test every task seen so far (one accuracy-matrix row).

The loop knows nothing about files: it reports to a `LoopLogger` and hands checkpoints and stop
requests to a `LoopSession` (`retain.runs.checkpoint.CheckpointSession` writes them to a run folder).
A run can start from a `ResumePoint`: the tasks already done, and how far the next task got.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import torch

from retain.algorithms.base import Algorithm, TrainingData
from retain.errors import ConfigError, NumericalError
from retain.scenarios.task import Benchmark, Task
from retain.training.data import DeviceBatches, LoaderBatches
from retain.training.distributed import Distributed, release_wrappers, step_function, synchronise_batchnorm
from retain.training.evaluate import accuracy
from retain.training.optim import make_optimizer
from retain.training.placement import DataPath, choose_data_path

if TYPE_CHECKING:
    from retain.config import TrainConfig

Batches = DeviceBatches | LoaderBatches


class LoopLogger:
    """What the loop reports; subclasses override what they need (all calls are no-ops here)."""

    def on_task_start(self, task_id: int, epochs: int) -> None: ...

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None: ...

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None: ...


@dataclass
class SequenceResult:
    """The accuracy matrix (row t−1 holds the t accuracies after task t), training time per task, the
    data path used (and why), and with a validation split the epoch kept for each task."""

    accuracy_matrix: list[list[float]] = field(default_factory=list)
    train_seconds_per_task: list[float] = field(default_factory=list)
    data_path: DataPath | None = None
    best_epoch_per_task: list[int] = field(default_factory=list)


@dataclass
class TaskProgress:
    """How far the training of one task got, with what continuing it exactly needs.

    Attributes:
        epoch: epochs finished.
        step: steps finished in epoch `epoch + 1` (0 at an epoch boundary).
        optimizer: the optimizer's `state_dict()` (momentum buffers, Adam moments).
        generator_state: the shuffling generator's state at the start of epoch `epoch + 1`, so that
            the epoch's order can be drawn again and its first `step` batches skipped.
        sums: the running sums of the logged terms over the finished steps of that epoch.
        counted: samples in `sums`; skipped: batches skipped for a non-finite loss in that epoch.
        seconds: training time spent on the task so far.
    """

    epoch: int = 0
    step: int = 0
    optimizer: dict[str, Any] | None = None
    generator_state: torch.Tensor | None = None
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counted: int = 0
    skipped: int = 0
    seconds: float = 0.0


@dataclass
class ResumePoint:
    """Where a resumed run starts: the results of the finished tasks and, optionally, a task in progress."""

    result: SequenceResult
    progress: TaskProgress | None = None


class LoopSession:
    """The loop's link to the world between steps: checkpoints and stop requests (no-ops here).

    `stop_signal` is set (by a signal handler) to ask the loop to stop after the current step; the
    loop then calls `interrupt`, which must save and raise. Reading an attribute costs no host sync.
    """

    stop_signal: int | None = None

    def before_step(self, task_id: int, epoch: int, step: int) -> None:
        """Called before every step (tests use it to kill the process at a chosen point)."""

    def after_epoch(
        self,
        task: Task,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress,
    ) -> None:
        """Called after each epoch but the last of a task (mid-task checkpoints)."""

    def after_task(self, task: Task, algorithm: Algorithm, result: SequenceResult, generator: torch.Generator) -> None:
        """Called after a task is trained and evaluated (the task checkpoint)."""

    def interrupt(
        self,
        task: Task,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress | None,
    ) -> NoReturn:
        """Stop the run on `stop_signal`; `progress` is None between tasks."""
        raise KeyboardInterrupt


def resolve_device(name: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device", name, "no CUDA device is available here: use 'auto' or 'cpu'")
    return torch.device(name)


def _batch_factory(
    path: DataPath, benchmark: Benchmark, cfg: TrainConfig, device: torch.device
) -> Callable[[TrainingData, bool], Batches]:
    """A function (data, augment) → batches on the chosen path (`device` or `loader`)."""
    if path.name == "loader":
        return lambda data, augment: LoaderBatches(
            data, benchmark.mean, benchmark.std, device, augment, cfg.num_workers
        )
    return lambda data, augment: DeviceBatches(data, benchmark.mean, benchmark.std, device, augment)


class _BestEpoch:
    """Model selection on a validation set: the epoch of best validation accuracy (the first on ties).

    Not part of a mid-task checkpoint: a run resumed inside a task tracks the best epoch from there on.
    """

    def __init__(self, val: Batches | None, epochs: int) -> None:
        self.val, self.acc, self.epoch, self.state = val, -1.0, epochs, None

    def update(self, algorithm: Algorithm, task: Task, epoch: int, batch_size: int, ranks: Distributed) -> float | None:
        if self.val is None:
            return None
        acc = accuracy(algorithm, self.val, task.id, task.id, batch_size, ranks)
        if acc > self.acc:
            self.acc, self.epoch, self.state = acc, epoch, copy.deepcopy(algorithm.model.state_dict())
        return acc

    def patience_exhausted(self, epoch: int, patience: int | None) -> bool:
        return self.val is not None and patience is not None and epoch - self.epoch >= patience

    def restore(self, algorithm: Algorithm) -> int:
        if self.state is not None:
            algorithm.model.load_state_dict(self.state)
        return self.epoch


@dataclass
class _TaskContext:
    """What `train_task` needs besides the data to checkpoint or interrupt (kept together to stay short)."""

    session: LoopSession
    result: SequenceResult
    started: float  # perf_counter value at which this task's (possibly resumed) training time began
    dist: Distributed = field(default_factory=Distributed)


def _check_finite(first_bad: float, task: Task, epoch: int) -> None:
    if first_bad >= 0:
        raise NumericalError(
            f"non-finite loss at task {task.id}, epoch {epoch}, step {int(first_bad) + 1} (1-based): the run "
            f"stopped; the checkpoint of the last good task is kept (lower train.optimizer.lr, or set "
            f"train.on_nan=skip_batch, then resume with --resume RUN --force)"
        )


def train_task(
    algorithm: Algorithm,
    data: Batches,
    task: Task,
    cfg: TrainConfig,
    generator: torch.Generator,
    logger: LoopLogger,
    progress: TaskProgress | None = None,
    context: _TaskContext | None = None,
    val: Batches | None = None,
) -> int:
    """Run up to `cfg.epochs` epochs of `algorithm.training_step` on `data` with a fresh optimizer.

    With `progress`, continue a task from where a checkpoint left it (optimizer state, epoch, step).
    With a validation set `val`, each epoch also reports `val_acc`; at the end the model is restored to
    the epoch of best validation accuracy, and training stops early after `cfg.patience` epochs without
    improvement. Returns the epoch whose weights the model ends with.
    Non-finite losses: `train.on_nan = stop` tracks the first bad step on the device (no host sync per
    step) and raises `NumericalError` at the end of the epoch, before any checkpoint of it is written;
    `skip_batch` checks each loss on the host (one sync per step) and skips that update.
    """
    context = context or _TaskContext(LoopSession(), SequenceResult(), time.perf_counter())
    session, model, ranks = context.session, algorithm.model, context.dist
    step_fn = step_function(algorithm, ranks)
    optimizer = make_optimizer(model, cfg.optimizer)
    progress = progress or TaskProgress()
    if progress.optimizer is not None:
        optimizer.load_state_dict(progress.optimizer)
    skip_bad = cfg.on_nan == "skip_batch"
    best = _BestEpoch(val, cfg.epochs)
    bf16 = cfg.precision == "bf16"  # forward under autocast; backward and optimizer step in float32
    autocast = (
        functools.partial(torch.autocast, data.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext
    )
    model.train()
    for epoch in range(progress.epoch + 1, cfg.epochs + 1):
        start = time.perf_counter()
        epoch_generator_state = generator.get_state()  # lets a checkpoint replay this epoch's order
        resumed = epoch == progress.epoch + 1
        first_step = progress.step if resumed else 0
        sums = dict(progress.sums) if resumed else {}
        counted, skipped = (progress.counted, progress.skipped) if resumed else (0, 0)
        first_bad = torch.full((), -1.0, device=data.device)
        for step, batch in enumerate(data.shuffled(cfg.batch_size, generator, first_step), start=first_step):
            session.before_step(task.id, epoch, step)
            if session.stop_signal is not None:
                _check_finite(first_bad.item(), task, epoch)
                state = TaskProgress(
                    epoch - 1,
                    step,
                    optimizer.state_dict(),
                    epoch_generator_state,
                    sums,
                    counted,
                    skipped,
                    time.perf_counter() - context.started,
                )
                session.interrupt(task, algorithm, context.result, generator, state)
            batch, share = ranks.shard(batch)
            if cfg.channels_last and batch.x.dim() == 4:
                batch = dataclasses.replace(batch, x=batch.x.contiguous(memory_format=torch.channels_last))
            with autocast():
                out = step_fn(batch, task)
            loss = out["loss"] if share == 1.0 else out["loss"] * share
            if skip_bad and not bool(torch.isfinite(loss)):  # host sync: the price of skip_batch
                skipped += 1
                continue
            if not skip_bad:  # device-side record of the first non-finite step: no host sync
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss.detach()), float(step), first_bad)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = len(batch.y) if share else 0
            counted += n
            for key, value in out.items():
                if key != "preds":  # sums stay on the device: no host sync per step
                    sums[key] = sums.get(key, 0.0) + value.detach() * n
        if ranks.active:  # every rank logs the whole batch's means
            totals = ranks.sum_(torch.stack([*sums.values(), torch.tensor(float(counted), device=data.device)]))
            sums, counted = dict(zip(sums, totals[:-1])), int(totals[-1].item())
            ranks.max_(first_bad)
        *means, bad = torch.stack([*sums.values(), first_bad]).tolist() if sums else [first_bad.item()]
        _check_finite(bad, task, epoch)
        terms = dict(zip(sums, [m / max(counted, 1) for m in means]))
        if skip_bad:
            terms["skipped_batches"] = float(skipped)
        val_acc = best.update(algorithm, task, epoch, cfg.eval_batch_size, ranks)
        if val_acc is not None:
            terms["val_acc"] = val_acc
        logger.on_epoch(task.id, epoch, terms, time.perf_counter() - start)
        if best.patience_exhausted(epoch, cfg.patience):
            break
        if epoch < cfg.epochs:
            state = TaskProgress(
                epoch, 0, optimizer.state_dict(), generator.get_state(), {}, 0, 0, time.perf_counter() - context.started
            )
            session.after_epoch(task, algorithm, context.result, generator, state)
    return best.restore(algorithm)


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
    logger = logger or LoopLogger()
    session = session or LoopSession()
    model = algorithm.model.to(device)
    synchronise_batchnorm(model, dist or Distributed(), device, cfg.sync_batchnorm)
    if cfg.compile:  # in place: parameter names, checkpoints and snapshots stay as they are
        model.backbone.compile(backend=cfg.compile_backend)
    path = choose_data_path(benchmark, cfg.data_path, device)
    batches = _batch_factory(path, benchmark, cfg, device)
    result = resume.result if resume else SequenceResult()
    result.data_path = path
    done = len(result.accuracy_matrix)

    def test_set(task: Task) -> Batches:
        return batches(TrainingData(task.x_test, task.y_test), False)

    tests = {task.id: test_set(task) for task in benchmark.tasks[:done]}
    for index, task in enumerate(benchmark.tasks[done:], start=done):
        progress = resume.progress if resume and index == done else None
        logger.on_task_start(task.id, cfg.epochs)
        model.heads.setup_task(task.id, task.num_classes)  # a no-op for a resumed task: its head exists
        model.heads.to(device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        start = time.perf_counter() - (progress.seconds if progress else 0.0)
        if progress is None:
            algorithm.on_task_start(task)
        data = batches(algorithm.training_data(benchmark, task), benchmark.augment)
        algorithm.on_training_data(data)
        val = batches(TrainingData(task.x_val, task.y_val), False) if task.has_validation else None
        context = _TaskContext(session, result, start, dist or Distributed())
        result.best_epoch_per_task.append(
            train_task(algorithm, data, task, cfg, generator, logger, progress, context, val)
        )
        if context.dist.active:
            release_wrappers()  # this task's DDP wrapper, before the next one is built
        algorithm.on_task_end(task)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.train_seconds_per_task.append(time.perf_counter() - start)
        del data, val
        tests[task.id] = test_set(task)
        row = [accuracy(algorithm, tests[j], j, task.id, cfg.eval_batch_size, dist) for j in sorted(tests)]
        result.accuracy_matrix.append(row)
        logger.on_evaluation(task.id, row)
        session.after_task(task, algorithm, result, generator)
        if session.stop_signal is not None and index + 1 < benchmark.num_tasks:
            session.interrupt(task, algorithm, result, generator, None)
    return result
