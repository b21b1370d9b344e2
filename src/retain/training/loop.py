"""The task loop: train each task in turn, then test every task seen so far (one accuracy-matrix row)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from retain.algorithms.base import Algorithm, TrainingData
from retain.scenarios.task import Benchmark, Task
from retain.training.data import DeviceBatches, LoaderBatches
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


def resolve_device(name: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device = 'cuda' is not valid: no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(name)


def _batch_factory(
    path: DataPath, benchmark: Benchmark, cfg: "TrainConfig", device: torch.device
) -> Callable[[TrainingData, bool], Batches]:
    """A function (data, augment) → batches on the chosen path (`device` or `loader`)."""
    if path.name == "loader":
        return lambda data, augment: LoaderBatches(data, benchmark.mean, benchmark.std, device, augment, cfg.num_workers)
    return lambda data, augment: DeviceBatches(data, benchmark.mean, benchmark.std, device, augment)


def train_task(
    algorithm: Algorithm,
    data: Batches,
    task: Task,
    cfg: "TrainConfig",
    generator: torch.Generator,
    logger: LoopLogger,
    val: Batches | None = None,
) -> int:
    """Run up to `cfg.epochs` epochs of `algorithm.training_step` on `data` with a fresh optimizer.

    With a validation set `val`, each epoch also reports `val_acc`; at the end the model is restored to
    the epoch of best validation accuracy (the first on ties), and training stops early after
    `cfg.patience` epochs without improvement. Returns the epoch whose weights the model ends with.
    """
    model = algorithm.model
    optimizer = make_optimizer(model, cfg.optimizer)
    model.train()
    best_acc, best_epoch, best_state = -1.0, cfg.epochs, None
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        sums: dict[str, torch.Tensor] = {}
        for batch in data.shuffled(cfg.batch_size, generator):
            out = algorithm.training_step(batch, task)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            optimizer.step()
            n = len(batch.y)
            for key, value in out.items():
                if key != "preds":  # sums stay on the device: no host sync per step
                    sums[key] = sums.get(key, 0.0) + value.detach() * n
        means = dict(zip(sums, torch.stack(list(sums.values())).div(len(data)).tolist()))  # one sync per epoch
        if val is not None:
            means["val_acc"] = accuracy(algorithm, val, task.id, task.id, cfg.eval_batch_size)
            if means["val_acc"] > best_acc:
                best_acc, best_epoch, best_state = means["val_acc"], epoch, copy.deepcopy(model.state_dict())
        logger.on_epoch(task.id, epoch, means, time.perf_counter() - start)
        if val is not None and cfg.patience is not None and epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return best_epoch


def run_sequence(
    algorithm: Algorithm,
    benchmark: Benchmark,
    cfg: "TrainConfig",
    generator: torch.Generator,
    device: torch.device,
    logger: LoopLogger | None = None,
) -> SequenceResult:
    """Learn the tasks of `benchmark` in order and fill the accuracy matrix.

    The data path (`cfg.data_path`: device-resident or `DataLoader`) is chosen once for the run and
    recorded in the result with its reason.
    """
    logger = logger or LoopLogger()
    model = algorithm.model.to(device)
    path = choose_data_path(benchmark, cfg.data_path, device)
    batches = _batch_factory(path, benchmark, cfg, device)
    result = SequenceResult(data_path=path)
    tests: dict[int, Batches] = {}
    for task in benchmark.tasks:
        logger.on_task_start(task.id, cfg.epochs)
        model.heads.setup_task(task.id, task.num_classes)
        model.heads.to(device)
        start = time.perf_counter()
        algorithm.on_task_start(task)
        data = batches(algorithm.training_data(benchmark, task), benchmark.augment)
        algorithm.on_training_data(data)
        val = batches(TrainingData(task.x_val, task.y_val), False) if task.has_validation else None
        result.best_epoch_per_task.append(train_task(algorithm, data, task, cfg, generator, logger, val))
        algorithm.on_task_end(task)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.train_seconds_per_task.append(time.perf_counter() - start)
        del data, val
        tests[task.id] = batches(TrainingData(task.x_test, task.y_test), False)
        row = [accuracy(algorithm, tests[j], j, task.id, cfg.eval_batch_size) for j in sorted(tests)]
        result.accuracy_matrix.append(row)
        logger.on_evaluation(task.id, row)
    return result
