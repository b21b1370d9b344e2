"""Speed and memory benchmark of Finetuning and LwF against a minimal plain-PyTorch loop (issue 6).

For T tasks of Permuted Fashion-MNIST (DIL, MLP 784-256-256, SGD) every case trains the whole sequence
in a fresh process (so peak memory is its own) and reports the seconds per epoch of the last task, the
peak memory (RSS on CPU, `max_memory_allocated` on CUDA) and the final average accuracy. Times are
reported as ratios to the minimal Finetuning loop of the same run, next to the floor ratio of the
arithmetic: a forward pass is 1 unit, forward + backward 3; Finetuning 3, LwF `previous` 4, `per_task`
T + 2, `per_task` with cached teacher outputs 3 + (T − 1)/E.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

CASES: dict[str, dict[str, Any]] = {
    "finetuning": {"name": "finetuning"},
    "lwf previous": {"name": "lwf", "teacher": "previous", "cache_teacher": False},
    "lwf previous cached": {"name": "lwf", "teacher": "previous", "cache_teacher": True},
    "lwf per_task (loop)": {"name": "lwf", "teacher": "per_task", "cache_teacher": False, "batch_teachers": False},
    "lwf per_task": {"name": "lwf", "teacher": "per_task", "cache_teacher": False},
    "lwf per_task cached": {"name": "lwf", "teacher": "per_task", "cache_teacher": True},
}
FLOORS = {"floor finetuning": "none", "floor lwf previous": "previous", "floor lwf per_task": "per_task"}


def floor_units(case: str, tasks: int, epochs: int) -> float:
    """The arithmetic's cost per sample and epoch at the last task, in forward-pass units."""
    if case == "finetuning":
        return 3.0
    cached = case.endswith("cached")
    if "previous" in case:
        return 3.0 + 1.0 / epochs if cached else 4.0
    return 3.0 + (tasks - 1) / epochs if cached else tasks + 2.0


def _benchmark(name: str, tasks: int, samples: int, seed: int):
    """The permuted benchmark built from the first `samples` training images (so that data does not
    dominate the memory figures)."""
    from retain.config import BenchmarkConfig
    from retain.scenarios import BENCHMARKS
    from retain.scenarios.builders import permute_pixels
    from retain.scenarios.task import Benchmark

    source = synthetic_cifar100(samples, seed) if name == SYNTHETIC else BENCHMARKS[name].source(BenchmarkConfig(name=name))
    source = dataclasses.replace(source, x_train=source.x_train[:samples], y_train=source.y_train[:samples])
    mean, std = source.channel_stats()
    return Benchmark(name, "dil", tuple(permute_pixels(source, "dil", tasks, seed)), source.input_shape, mean, std)


SYNTHETIC = "synthetic_cifar100"


def synthetic_cifar100(samples: int, seed: int):
    """Random uint8 images shaped like CIFAR-100 (3×32×32, 100 classes): for timing only, no data needed."""
    import torch

    from retain.scenarios.sources import SourceData

    gen = torch.Generator().manual_seed(seed)
    tests = max(samples // 5, 100)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)

    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, 100, (n,), generator=gen)

    return SourceData(SYNTHETIC, images(samples), labels(samples), images(tests), labels(tests), 100)


def _peak_memory(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux → MiB


def _run_case(case: str, args: dict[str, Any], queue: Any) -> None:
    import torch

    torch.set_num_threads(args["threads"])
    bench = _benchmark(args["benchmark"], args["tasks"], args["samples"], args["seed"])
    if case in FLOORS:
        from retain.bench.floor import minimal_lwf
        from retain.config import BackboneConfig
        from retain.models import build_backbone

        device = torch.device(args["device"])
        tasks = [tuple(v.to(device) for v in (t.x_train, t.y_train, t.x_test, t.y_test)) for t in bench.tasks]
        backbone = lambda: build_backbone(BackboneConfig(name=args["backbone"]), bench.input_shape)  # noqa: E731
        seconds, final = minimal_lwf(tasks, FLOORS[case], epochs=args["epochs"], batch_size=args["batch_size"],
                                     backbone=backbone, mean=bench.mean[0], std=bench.std[0], seed=args["seed"])
    else:
        from retain.api import build_algorithm
        from retain.config import config_from_dict
        from retain.metrics import final_average_accuracy
        from retain.training import resolve_device, run_sequence

        cfg = config_from_dict({
            "seed": args["seed"], "scenario": "dil", "backbone": {"name": args["backbone"]},
            "benchmark": {"name": "permuted_fmnist" if args["benchmark"] == SYNTHETIC else args["benchmark"], "num_tasks": args["tasks"]},
            "algorithm": CASES[case], "train": {"epochs": args["epochs"], "batch_size": args["batch_size"], "device": args["device"]},
        })
        algorithm = build_algorithm(cfg, bench.input_shape)
        generator = torch.Generator().manual_seed(cfg.seed)
        result = run_sequence(algorithm, bench, cfg.train, generator, resolve_device(args["device"]))
        seconds = result.train_seconds_per_task[-1] / args["epochs"]
        final = final_average_accuracy(result.accuracy_matrix)
    queue.put({"seconds_per_epoch": seconds, "peak_memory_mib": _peak_memory(args["device"]), "final_average_accuracy": final})


def measure(case: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one case in a fresh process and return its figures."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_case, args=(case, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return {"case": case, "tasks": args["tasks"], **result}


def table(rows: list[dict[str, Any]], epochs: int) -> str:
    """The Markdown table: every time as a ratio to the minimal Finetuning loop at the same T."""
    lines = [
        "| T | case | s/epoch (last task) | ratio to minimal finetuning | floor ratio | ratio / floor | peak MiB | final AA |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        base = next((r for r in rows if r["tasks"] == row["tasks"] and r["case"] == "floor finetuning"), None)
        floor = floor_units(row["case"].removeprefix("floor "), row["tasks"], epochs) / 3.0
        ratio = row["seconds_per_epoch"] / base["seconds_per_epoch"] if base else None
        shown = ("–", "–") if ratio is None else (f"{ratio:.2f}", f"{ratio / floor:.2f}")
        lines.append(
            f"| {row['tasks']} | {row['case']} | {row['seconds_per_epoch']:.3f} | {shown[0]} | {floor:.2f} | "
            f"{shown[1]} | {row['peak_memory_mib']:.0f} | {row['final_average_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retain bench speed", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="2,5,10,20", help="comma-separated numbers of tasks")
    parser.add_argument("--cases", default=",".join([*FLOORS, *CASES]), help="comma-separated case names")
    parser.add_argument("--benchmark", default="permuted_fmnist", help=f"a permuted benchmark's name or {SYNTHETIC}")
    parser.add_argument("--backbone", default="mlp", help="mlp | small_cnn | resnet18")
    parser.add_argument("--samples", type=int, default=6000, help="training samples per task")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speed.json"))
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES and c not in FLOORS]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; valid: {[*FLOORS, *CASES]}")
    rows = []
    started = time.time()
    for tasks in [int(t) for t in args.tasks.split(",")]:
        for case in cases:
            keys = ("benchmark", "backbone", "samples", "epochs", "batch_size", "device", "threads", "seed")
            common = {k: getattr(args, k) for k in keys}
            rows.append(measure(case, {**common, "tasks": tasks}))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    report = {"settings": {**vars(args), "out": str(args.out)}, "seconds": time.time() - started, "rows": rows}
    from retain.runs.store import atomic_write_text

    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), table(rows, args.epochs) + "\n")
    print(table(rows, args.epochs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
