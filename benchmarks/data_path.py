"""Epoch time of the device-resident data path against the DataLoader path, in one run.

On Split Fashion-MNIST (5 tasks × 2 classes, 12k training images per task) the loop's `train_task`
trains Finetuning with an MLP 784-256-256 for one epoch per task and path, the two paths interleaved,
for `--rounds` rounds on the same device; the epoch times the loop reports are compared (median over
all epochs). A second measure iterates the batches alone (normalised on the device, no model), which
isolates what the path itself costs. Finally the whole sequence runs once per path to check that both
give the same accuracy matrix.

    PYTHONPATH=src python benchmarks/data_path.py                 # CPU, Debian's Fashion-MNIST
    PYTHONPATH=src python benchmarks/data_path.py --device cuda --workers 4 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from retain.algorithms import Finetuning
from retain.algorithms.base import TrainingData
from retain.config import BenchmarkConfig, TrainConfig
from retain.experiment.build import build_benchmark
from retain.models import ContinualModel, build_backbone
from retain.scenarios.setting import make_heads
from retain.training.data import DeviceBatches, LoaderBatches
from retain.training.loop import LoopLogger, TaskRun, resolve_device, run_sequence, train_task

PATHS = ("device", "loader")


class EpochTimes(LoopLogger):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.seconds.append(seconds)


def _model(bench) -> Finetuning:
    torch.manual_seed(0)
    backbone = build_backbone("mlp", bench.input_shape, hidden=(256, 256))
    return Finetuning(ContinualModel(backbone, make_heads(bench.scenario, backbone.output_dim)))


def _batches(bench, task, path: str, args: argparse.Namespace, device: torch.device):
    data = TrainingData(task.x_train, task.y_train)
    if path == "device":
        return DeviceBatches(data, bench.mean, bench.std, device)
    return LoaderBatches(data, bench.mean, bench.std, device, num_workers=args.workers)


def same_matrix(bench, args: argparse.Namespace, device: torch.device) -> tuple[bool, float]:
    """Run the whole sequence once per path (1 epoch per task): are the accuracy matrices identical?"""
    matrices = {}
    for path in PATHS:
        cfg = TrainConfig(epochs=1, batch_size=args.batch_size, data_path=path, num_workers=args.workers)
        matrices[path] = run_sequence(
            _model(bench), bench, cfg, torch.Generator().manual_seed(0), device
        ).accuracy_matrix
    last = matrices["device"][-1]
    return matrices["device"] == matrices["loader"], sum(last) / len(last)


def train_epoch_times(bench, args: argparse.Namespace, device: torch.device) -> dict[str, list[float]]:
    """Seconds of one training epoch of the real loop per task, the two paths interleaved round by
    round (so that a change in machine load hits both alike)."""
    times: dict[str, list[float]] = {p: [] for p in PATHS}
    models = {p: _model(bench) for p in PATHS}
    cfg = {p: TrainConfig(epochs=1, batch_size=args.batch_size, data_path=p, num_workers=args.workers) for p in PATHS}
    gen = torch.Generator().manual_seed(0)
    for round_ in range(args.rounds):
        for task in bench.tasks:
            for path in PATHS if round_ % 2 == 0 else PATHS[::-1]:
                algo = models[path]
                algo.model.to(device)
                algo.model.heads.setup_task(task.id, task.num_classes)
                algo.model.heads.to(device)
                logger = EpochTimes()
                train_task(algo, _batches(bench, task, path, args, device), task, cfg[path], gen, TaskRun(logger))
                times[path] += logger.seconds
    return times


def data_only_times(bench, path: str, args: argparse.Namespace, device: torch.device) -> list[float]:
    """Seconds to serve one epoch of each task's batches (normalised on the device), without a model."""
    seconds = []
    gen = torch.Generator().manual_seed(0)
    for task in bench.tasks:
        batches = _batches(bench, task, path, args, device)
        start = time.perf_counter()
        checksum = torch.zeros((), device=device)
        for batch in batches.shuffled(args.batch_size, gen):
            checksum += batch.x[:, 0, 0, 0].sum()  # touch every batch so nothing is skipped
        checksum.item()  # wait for the device
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per task and path")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", default=None, help="benchmark.root (default: Debian's Fashion-MNIST)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's); on a loaded CPU, 1 avoids thread contention",
    )
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    bench = build_benchmark(BenchmarkConfig(name="split_fmnist", root=args.root), "til", 0)
    report: dict = {
        "benchmark": "split_fmnist (5 tasks x 12k training images)",
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "loader_workers": args.workers,
        "rounds": args.rounds,
        "load_average_at_start": list(os.getloadavg()),
    }
    data_only: dict[str, list[float]] = {p: [] for p in PATHS}
    for round_ in range(args.rounds + 1):  # round 0 warms up (worker start-up, allocator, caches)
        for path in PATHS if round_ % 2 == 0 else PATHS[::-1]:
            seconds = data_only_times(bench, path, args, device)
            if round_:
                data_only[path] += seconds
    train = train_epoch_times(bench, args, device)
    for path in PATHS:
        report[f"{path}_train_epoch_s"] = statistics.median(train[path])
        report[f"{path}_data_only_epoch_s"] = statistics.median(data_only[path])
    report["train_epoch_ratio_loader_over_device"] = report["loader_train_epoch_s"] / report["device_train_epoch_s"]
    report["data_only_ratio_loader_over_device"] = (
        report["loader_data_only_epoch_s"] / report["device_data_only_epoch_s"]
    )
    report["same_accuracy_matrix"], report["final_average_accuracy"] = same_matrix(bench, args, device)
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
