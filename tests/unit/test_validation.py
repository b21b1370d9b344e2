"""A validation split selects the best epoch's weights and stops a task early after `patience` epochs."""

import dataclasses

import torch

from retain.algorithms import Finetuning
from retain.algorithms.base import TrainingData
from retain.config import OptimizerConfig, TrainConfig
from retain.scenarios.builders import carve_validation, split_by_class
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Benchmark
from retain.training.data import DeviceBatches
from retain.training.evaluate import accuracy
from retain.training.loop import LoopLogger, run_sequence
from tests.conftest import tiny_benchmark, tiny_model


class Recorder(LoopLogger):
    def __init__(self):
        self.epochs = []

    def on_epoch(self, task_id, epoch, terms, seconds):
        self.epochs.append((task_id, epoch, terms))


def _validated(fraction=0.25):
    bench = tiny_benchmark("til")
    return dataclasses.replace(bench, tasks=tuple(carve_validation(bench.tasks, fraction, seed=0)))


def _run(bench, cfg):
    torch.manual_seed(0)
    algo = Finetuning(tiny_model("til"))
    recorder = Recorder()
    result = run_sequence(algo, bench, cfg, torch.Generator().manual_seed(0), torch.device("cpu"), recorder)
    return result, recorder, algo


def test_patience_stops_a_task_whose_validation_accuracy_does_not_improve():
    # a learning rate of 1e-12 leaves the weights (and so the validation accuracy) unchanged
    cfg = TrainConfig(epochs=6, batch_size=8, patience=2, optimizer=OptimizerConfig(lr=1e-12))
    result, recorder, _ = _run(_validated(), cfg)
    assert [e[:2] for e in recorder.epochs] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert result.best_epoch_per_task == [1, 1]
    assert all("val_acc" in terms for *_, terms in recorder.epochs)


def _noise_benchmark() -> Benchmark:
    """Random images with random labels: validation accuracy wanders from epoch to epoch."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (160, 1, 4, 4), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 4, (160,), generator=gen)
    source = SourceData("noise", x[:120], y[:120], x[120:], y[120:], 4)
    tasks = carve_validation(split_by_class(source, "til", 2, [0, 1, 2, 3]), 0.4, seed=0)
    mean, std = source.channel_stats()
    return Benchmark("noise", "til", tuple(tasks), source.input_shape, mean, std)


def test_the_model_ends_each_task_with_its_best_validation_epoch():
    cfg = TrainConfig(epochs=6, batch_size=4, optimizer=OptimizerConfig(lr=0.3))
    bench = _noise_benchmark()
    result, recorder, algo = _run(bench, cfg)
    last = [terms["val_acc"] for task, _, terms in recorder.epochs if task == 2]
    best = 1 + last.index(max(last))
    assert best != len(last) and len(set(last)) > 2  # the last epoch is not the best: restoring matters
    assert result.best_epoch_per_task[1] == best
    task = bench.tasks[1]
    val = DeviceBatches(TrainingData(task.x_val, task.y_val), bench.mean, bench.std, torch.device("cpu"))
    assert accuracy(algo, val, 2, 2, 64) == max(last)  # after task 2 the model is task 2's best epoch


def test_without_validation_every_epoch_runs_and_no_val_acc_is_logged():
    _, recorder, _ = _run(tiny_benchmark("til"), TrainConfig(epochs=2, batch_size=8, patience=1))
    assert len(recorder.epochs) == 4 and "val_acc" not in recorder.epochs[0][2]
