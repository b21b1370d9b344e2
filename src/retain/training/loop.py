"""The task loop: train each task in turn, then test every task seen so far (one accuracy-matrix row)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from retain.algorithms.base import Algorithm, TrainingData
from retain.scenarios.task import Benchmark, Task
from retain.training.data import DeviceBatches
from retain.training.evaluate import accuracy
from retain.training.optim import make_optimizer

if TYPE_CHECKING:
    from retain.config import TrainConfig


class LoopLogger:
    """What the loop reports; subclasses override what they need (all calls are no-ops here)."""

    def on_task_start(self, task_id: int, epochs: int) -> None: ...

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None: ...

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None: ...


@dataclass
class SequenceResult:
    """The accuracy matrix (row t−1 holds the t accuracies after task t) and training time per task."""

    accuracy_matrix: list[list[float]] = field(default_factory=list)
    train_seconds_per_task: list[float] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device = 'cuda' is not valid: no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(name)


def train_task(
    algorithm: Algorithm,
    data: DeviceBatches,
    task: Task,
    cfg: "TrainConfig",
    generator: torch.Generator,
    logger: LoopLogger,
) -> None:
    """Run `cfg.epochs` epochs of `algorithm.training_step` on `data` with a fresh optimizer."""
    model = algorithm.model
    optimizer = make_optimizer(model, cfg.optimizer)
    model.train()
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
        means = torch.stack(list(sums.values())).div(len(data)).tolist()  # one sync per epoch
        logger.on_epoch(task.id, epoch, dict(zip(sums, means)), time.perf_counter() - start)


def run_sequence(
    algorithm: Algorithm,
    benchmark: Benchmark,
    cfg: "TrainConfig",
    generator: torch.Generator,
    device: torch.device,
    logger: LoopLogger | None = None,
) -> SequenceResult:
    """Learn the tasks of `benchmark` in order and fill the accuracy matrix."""
    logger = logger or LoopLogger()
    model = algorithm.model.to(device)
    result = SequenceResult()
    tests: dict[int, DeviceBatches] = {}
    for task in benchmark.tasks:
        logger.on_task_start(task.id, cfg.epochs)
        model.heads.setup_task(task.id, task.num_classes)
        model.heads.to(device)
        start = time.perf_counter()
        algorithm.on_task_start(task)
        data = DeviceBatches(algorithm.training_data(benchmark, task), benchmark.mean, benchmark.std, device)
        algorithm.on_training_data(data)
        train_task(algorithm, data, task, cfg, generator, logger)
        algorithm.on_task_end(task)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.train_seconds_per_task.append(time.perf_counter() - start)
        del data
        tests[task.id] = DeviceBatches(TrainingData(task.x_test, task.y_test), benchmark.mean, benchmark.std, device)
        row = [accuracy(algorithm, tests[j], j, task.id, cfg.eval_batch_size) for j in sorted(tests)]
        result.accuracy_matrix.append(row)
        logger.on_evaluation(task.id, row)
    return result

