"""What the exemplar memory costs: seconds per epoch with and without replay, the selection time at the
end of a task, and the bytes the memory holds. Results: docs/benchmarks.md#the-exemplar-memory.

    python benchmarks/memory_cost.py --benchmark split_fmnist --size 2000 --epochs 2 --json out.json

Every case trains the same Split <benchmark> CIL sequence (5 tasks, MLP 400-400, Adam, batch 128, one CPU
thread), one run per case in one process; `--repeats` runs the whole list again (interleaved) and each
case keeps its fastest epoch of the last task, the one least disturbed by other work on the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from retain.algorithms.memory import memory_bytes
from retain.experiment.build import build, config_from_dict
from retain.training.loop import LoopLogger, run_sequence

CASES: dict[str, dict[str, Any]] = {
    "finetuning": {"algorithm": {"name": "finetuning"}},
    "finetuning + replay": {"algorithm": {"name": "finetuning"}, "memory": {"selection": "herding"}},
    "lwf": {"algorithm": {"name": "lwf", "teacher": "previous", "distance": "kl", "train_old_heads": True}},
    "lwf + replay": {
        "algorithm": {"name": "lwf", "teacher": "previous", "distance": "kl", "train_old_heads": True},
        "memory": {"selection": "herding"},
    },
}


class EpochClock(LoopLogger):
    """The seconds of every epoch, by task."""

    def __init__(self) -> None:
        self.seconds: dict[int, list[float]] = {}

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.seconds.setdefault(task_id, []).append(seconds)


def measure(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run of `case`: the last task's fastest epoch, the selection time and the bytes held."""
    section = CASES[case]
    memory = {**section["memory"], "size": args.size} if "memory" in section else {}
    cfg = config_from_dict(
        {
            "seed": 1,
            "scenario": "cil",
            "benchmark": {"name": args.benchmark, "num_tasks": 5},
            "backbone": {"name": "mlp", "hidden": [400, 400]},
            "algorithm": section["algorithm"],
            "memory": memory,
            "train": {
                "epochs": args.epochs,
                "batch_size": 128,
                "device": "cpu",
                "optimizer": {"name": "adam", "lr": 1e-3},
            },
        }
    )
    benchmark, algorithm = build(cfg)
    selection: list[float] = []
    end = algorithm.on_task_end

    def timed_end(task: Any) -> None:
        start = time.perf_counter()
        end(task)
        selection.append(time.perf_counter() - start)

    algorithm.on_task_end = timed_end  # type: ignore[method-assign]
    clock = EpochClock()
    run_sequence(algorithm, benchmark, cfg.train, torch.Generator().manual_seed(1), torch.device("cpu"), clock)
    last = benchmark.num_tasks
    return {
        "case": case,
        "last_task_samples": len(benchmark.task(last).y_train) + (args.size if memory else 0),
        "seconds_per_epoch": min(clock.seconds[last]),
        "task_end_seconds": selection,
        "bytes": memory_bytes(algorithm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="split_fmnist")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [measure(case, args) for _ in range(args.repeats) for case in CASES]
    best = {case: min((r for r in runs if r["case"] == case), key=lambda r: r["seconds_per_epoch"]) for case in CASES}
    for r in best.values():
        print(json.dumps(r))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
