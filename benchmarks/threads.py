"""`train.threads`: `auto` against fixed thread counts, with and without one busy-loop process per core.

Each measurement is a fresh process (`OMP_NUM_THREADS` unset, so that `auto` and torch's default decide
for themselves) training one epoch of the first tasks of a benchmark; the figure is the training time
summed over the tasks (`train_seconds_per_task`), the minimum over `--repeats`, and the thread count
each repeat trained with (what `auto` chose). The load average at the
start of each condition is printed too: on a shared machine "idle" means "without our busy loops".

    python benchmarks/threads.py                       # MLP on Split Fashion-MNIST, 2 tasks
    python benchmarks/threads.py --backbone small_cnn --tasks 1
    python benchmarks/threads.py --settings auto,1,2 --conditions idle,loaded --repeats 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, sys
import torch
from retain import run
import retain.experiment.run as runner
choices = []  # what the run chose, and why
choose = runner.choose_threads
runner.choose_threads = lambda *args, **kwargs: choices.append(choose(*args, **kwargs)) or choices[-1]
data = json.loads(sys.argv[1])
result = run(data, write=False, progress=False)
seconds = sum(result.summary["train_seconds_per_task"])
print(json.dumps({"seconds": seconds, "threads": choices[0].threads, "reason": choices[0].reason}))
"""


def measure(setting: str, args: argparse.Namespace) -> tuple[float, int, str]:
    """Training seconds of one fresh process with `train.threads: setting` (`auto` or a number; torch's
    own default is one thread per core, the number of cores here), the thread count it trained with and
    the run's reason for it."""
    train: dict[str, object] = {"epochs": 1, "device": "cpu", "threads": setting if setting == "auto" else int(setting)}
    keep = list(range(1, args.tasks + 1))
    data = {
        "benchmark": {"name": args.benchmark, "num_tasks": 5, "without": [t for t in range(1, 6) if t not in keep]},
        "backbone": {"name": args.backbone},
        "algorithm": {"name": "lwf"},
        "train": train,
    }
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(data)], capture_output=True, text=True, env=env, check=True
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(figures["seconds"]), int(figures["threads"]), str(figures["reason"])


def busy_loops(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` processes that spin one core each until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="split_fmnist")
    parser.add_argument("--backbone", default="mlp")
    parser.add_argument("--tasks", type=int, default=2, help="train the first N of the 5 tasks")
    parser.add_argument("--settings", default="auto,1,2")
    parser.add_argument("--conditions", default="idle,loaded")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)  # `timeout` or a scheduler: still kill the busy loops
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    rows = []
    for condition in args.conditions.split(","):
        loops = busy_loops(cores) if condition == "loaded" else []
        try:
            time.sleep(2.0 if loops else 0.0)
            load = os.getloadavg()[0]
            for setting in args.settings.split(","):
                repeats = [measure(setting, args) for _ in range(args.repeats)]
                seconds = min(r[0] for r in repeats)
                chosen = [r[1] for r in repeats]
                rows.append({"condition": condition, "load": load, "setting": setting, "seconds": seconds,
                             "seconds_per_repeat": [r[0] for r in repeats], "threads_per_repeat": chosen,
                             "reasons": [r[2] for r in repeats]})  # fmt: skip
                print(f"{condition:7s} load {load:5.2f}  threads {setting:8s} {seconds:7.2f} s  (ran with {chosen})",
                      flush=True)  # fmt: skip
                if args.json:  # after every figure: a stopped measurement keeps what it had
                    args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows}))
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
    return 0


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
