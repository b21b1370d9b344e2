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
import queue as queue_module
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
    from retain.scenarios import BENCHMARKS, Location
    from retain.scenarios.builders import permute_pixels
    from retain.scenarios.task import Benchmark

    source = synthetic_source(name, samples, seed) if name in SYNTHETIC else BENCHMARKS[name].source(Location())
    source = dataclasses.replace(source, x_train=source.x_train[:samples], y_train=source.y_train[:samples])
    mean, std = source.channel_stats()
    return Benchmark(name, "dil", tuple(permute_pixels(source, "dil", tasks, seed)), source.input_shape, mean, std)


SYNTHETIC: dict[str, tuple[tuple[int, int, int], int]] = {  # name → (image shape, classes)
    "synthetic_cifar100": ((3, 32, 32), 100),
    "synthetic_fmnist": ((1, 28, 28), 10),
}


def synthetic_source(name: str, samples: int, seed: int):
    """Random uint8 images shaped like a real data set (CIFAR-100: 3×32×32, 100 classes; Fashion-MNIST:
    1×28×28, 10 classes): for timing only, on machines without the data files."""
    import torch

    from retain.scenarios.sources import SourceData

    shape, classes = SYNTHETIC[name]
    gen = torch.Generator().manual_seed(seed)
    tests = max(samples // 5, 100)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)

    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, classes, (n,), generator=gen)

    return SourceData(name, images(samples), labels(samples), images(tests), labels(tests), classes)


def _peak_memory(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux → MiB


def _run_case(case: str, args: dict[str, Any], queue: Any) -> None:
    """One case in its own process: its seconds per epoch, peak memory and final accuracy, put on `queue`."""
    import torch

    torch.set_num_threads(args["threads"])
    bench = _benchmark(args["benchmark"], args["tasks"], args["samples"], args["seed"])
    state: dict[str, int] = {}  # what the algorithm holds besides the model (not known for the floor loop)
    if case in FLOORS:
        seconds, final = _run_floor(case, args, bench)
    else:
        seconds, final, state = _run_library(case, args, bench)
    queue.put(
        {
            "seconds_per_epoch": seconds,
            "peak_memory_mib": _peak_memory(args["device"]),
            "final_average_accuracy": final,
            **{f"{k}_mib": v / 2**20 for k, v in state.items()},
        }
    )


def _run_floor(case: str, args: dict[str, Any], bench: Any) -> tuple[float, float]:
    import torch

    from retain.bench.floor import minimal_lwf
    from retain.models import build_backbone

    device = torch.device(args["device"])
    tasks = [tuple(v.to(device) for v in (t.x_train, t.y_train, t.x_test, t.y_test)) for t in bench.tasks]
    return minimal_lwf(
        tasks,
        FLOORS[case],
        epochs=args["epochs"],
        batch_size=args["batch_size"],
        backbone=lambda: build_backbone(args["backbone"], bench.input_shape),
        mean=bench.mean[0],
        std=bench.std[0],
        seed=args["seed"],
    )


def _run_library(case: str, args: dict[str, Any], bench: Any) -> tuple[float, float, dict[str, int]]:
    import torch

    from retain.experiment.build import build_algorithm, config_from_dict
    from retain.metrics import final_average_accuracy
    from retain.training.loop import resolve_device, run_sequence

    cfg = config_from_dict(
        {
            "seed": args["seed"],
            "scenario": "dil",
            "backbone": {"name": args["backbone"]},
            "benchmark": {
                "name": "permuted_fmnist" if args["benchmark"] in SYNTHETIC else args["benchmark"],
                "num_tasks": args["tasks"],
            },
            "algorithm": CASES[case],
            "train": {"epochs": args["epochs"], "batch_size": args["batch_size"], "device": args["device"]},
        }
    )
    algorithm = build_algorithm(cfg, bench.input_shape)
    state = _record_state_peak(algorithm)
    generator = torch.Generator().manual_seed(cfg.seed)
    result = run_sequence(algorithm, bench, cfg.train, generator, resolve_device(args["device"]))
    seconds = result.train_seconds_per_task[-1] / args["epochs"]
    return seconds, final_average_accuracy(result.accuracy_matrix), state


def _record_state_peak(algorithm: Any) -> dict[str, int]:
    """The largest `memory_bytes()` of the algorithm, sampled when a task's data (and cache) is ready:
    the point of the task where its teachers and cache are all held."""
    from retain.algorithms.memory import memory_bytes

    peak: dict[str, int] = {}
    original = algorithm.on_training_data

    def on_training_data(data: Any) -> None:
        original(data)
        for kind, size in memory_bytes(algorithm).items():
            peak[kind] = max(peak.get(kind, 0), size)

    algorithm.on_training_data = on_training_data
    return peak


def measure(case: str, args: dict[str, Any], repeats: int = 1) -> dict[str, Any]:
    """Run one case `repeats` times, each in a fresh process, and return its figures: the fastest
    repeat's time (the least disturbed by other work on the machine; every repeat is kept), the largest
    peak memory and the final accuracy (the same in every repeat: the runs are seeded)."""
    runs = [_measure_once(case, args) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["seconds_per_epoch"])
    return {
        "case": case,
        "tasks": args["tasks"],
        **best,
        "peak_memory_mib": max(r["peak_memory_mib"] for r in runs),
        "repeat_seconds_per_epoch": [r["seconds_per_epoch"] for r in runs],
    }


def _measure_once(case: str, args: dict[str, Any]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_case, args=(case, args, queue))
    proc.start()
    while True:  # a child that dies (out of memory, a bug) must not leave the parent waiting forever
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"case {case!r} at T={args['tasks']} died (exit code {proc.exitcode})") from None
    proc.join()
    return result


def table(rows: list[dict[str, Any]], epochs: int) -> str:
    """The Markdown table: every time as a ratio to the minimal Finetuning loop at the same T."""
    lines = [
        "| T | case | s/epoch (last task) | ratio to minimal finetuning | floor ratio | ratio / floor | peak MiB "
        "| teachers MiB | cache MiB | final AA |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        base = next((r for r in rows if r["tasks"] == row["tasks"] and r["case"] == "floor finetuning"), None)
        floor = floor_units(row["case"].removeprefix("floor "), row["tasks"], epochs) / 3.0
        ratio = row["seconds_per_epoch"] / base["seconds_per_epoch"] if base else None
        shown = ("–", "–") if ratio is None else (f"{ratio:.2f}", f"{ratio / floor:.2f}")
        lines.append(
            f"| {row['tasks']} | {row['case']} | {row['seconds_per_epoch']:.3f} | {shown[0]} | {floor:.2f} | "
            f"{shown[1]} | {row['peak_memory_mib']:.0f} | {_mib(row, 'teachers')} | {_mib(row, 'cache')} | "
            f"{row['final_average_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def _mib(row: dict[str, Any], kind: str) -> str:
    value = row.get(f"{kind}_mib")
    return "–" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--per-step" in argv:  # the per-step mode has options of its own (`--per-step --help`)
        from retain.bench.step import main as per_step

        return per_step([a for a in argv if a != "--per-step"])
    parser = argparse.ArgumentParser(prog="retain bench speed", description=__doc__.splitlines()[0])
    parser.add_argument("--per-step", action="store_true", help="time one LwF step at k finished tasks instead")
    parser.add_argument("--tasks", default="2,5,10,20", help="comma-separated numbers of tasks")
    parser.add_argument("--cases", default=",".join([*FLOORS, *CASES]), help="comma-separated case names")
    parser.add_argument(
        "--benchmark", default="permuted_fmnist", help=f"a permuted benchmark's name or one of {list(SYNTHETIC)}"
    )
    parser.add_argument("--backbone", default="mlp", help="mlp | small_cnn | resnet18")
    parser.add_argument("--samples", type=int, default=6000, help="training samples per task")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="runs per case; the fastest is reported")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speed.json"))
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES and c not in FLOORS]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; valid: {[*FLOORS, *CASES]}")
    if args.repeats < 1:
        parser.error(f"--repeats: {args.repeats} is not valid: must be at least 1")
    from retain.runs.store import atomic_write_text

    rows: list[dict[str, Any]] = []
    started = time.time()

    def save(complete: bool) -> None:
        """Both files after every case (atomically), so a run stopped at a time limit keeps its rows."""
        report = {
            "settings": {**vars(args), "out": str(args.out)},
            "seconds": time.time() - started,
            "complete": complete,
            "rows": rows,
        }
        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
        atomic_write_text(args.out.with_suffix(".md"), table(rows, args.epochs) + "\n")

    keys = ("benchmark", "backbone", "samples", "epochs", "batch_size", "device", "threads", "seed")
    common = {k: getattr(args, k) for k in keys}
    for tasks in [int(t) for t in args.tasks.split(",")]:
        for case in cases:
            rows.append(measure(case, {**common, "tasks": tasks}, args.repeats))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            save(complete=False)
    save(complete=True)
    print(table(rows, args.epochs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
