"""Per-step speed of LwF at k finished tasks (`retain bench speed --per-step`).

One optimisation step (forward, loss, backward, optimizer step on a fixed batch size) of every LwF mode
with k = 1, 4, 9, 19 finished tasks, next to retain's Finetuning step and the *floor*: the same step as a
minimal plain-PyTorch loop (model, cross-entropy, backward, step; nothing else). The model is an MLP
784-256-256 on random 28×28 images, TIL by default (one 2-class head per task). The students start from
random weights and every teacher is a perturbed copy, so teachers and student differ; no training is
needed to time a step. The cases are interleaved step by step: in each round the cases take turns for
`steps` steps, each case's median step is divided by the Finetuning (and the floor) step's median of the
same round, and the reported figures are the medians over the rounds, so that a machine shared with
other work shifts all cases alike.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

STEP_CASES: dict[str, dict[str, Any]] = {
    "lwf per_task cached": {"teacher": "per_task", "cache_teacher": True},
    "lwf per_task": {"teacher": "per_task", "cache_teacher": False},
    "lwf per_task (loop)": {"teacher": "per_task", "cache_teacher": False, "batch_teachers": False},
    "lwf previous cached": {"teacher": "previous", "cache_teacher": True},
    "lwf previous": {"teacher": "previous", "cache_teacher": False},
}
BASELINES = ("floor", "finetuning")
INPUT_SHAPE = (1, 28, 28)


def unit_floor(case: str, finished: int) -> float:
    """The step's arithmetic relative to a Finetuning step (forward 1 unit, forward + backward 3):
    uncached `per_task` (T + 2)/3 with T = k + 1 tasks, uncached `previous` 4/3, cached steps 1."""
    if "cached" in case or case in BASELINES:
        return 1.0
    return (finished + 3) / 3.0 if "per_task" in case else 4.0 / 3.0


def _setup(case: str, finished: int, scenario: str, samples: int, seed: int) -> tuple[Any, Any]:
    """An algorithm whose model has `finished` old tasks and the current one, its teachers (and cache)
    ready, and the current task's data."""
    from retain.algorithms import Finetuning, LwF, LwFParams
    from retain.models import MLP, ContinualModel
    from retain.scenarios.setting import make_heads
    from retain.scenarios.task import Task
    from retain.training.data import DeviceBatches, TrainingData

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    backbone = MLP(INPUT_SHAPE, (256, 256))
    model = ContinualModel(backbone, make_heads(scenario, backbone.output_dim))
    params = STEP_CASES.get(case)
    algorithm = Finetuning(model) if params is None else LwF(model, LwFParams(**params))
    x = torch.randint(0, 256, (samples, *INPUT_SHAPE), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 2, (samples,), generator=gen)
    empty = torch.zeros(0, dtype=torch.long)
    for t in range(1, finished + 2):
        labels = y + 2 * (t - 1) if scenario == "cil" else y  # CIL: the global class ids
        task = Task(t, (2 * t - 2, 2 * t - 1), 2, x, labels, x, empty)
        model.heads.setup_task(t, 2)
        if t <= finished:
            algorithm.on_task_end(task)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.05 * torch.randn_like(p))
    data = DeviceBatches(TrainingData(x, labels), [127.0], [74.0], torch.device("cpu"))
    algorithm.on_training_data(data)
    return algorithm, (data, task)


def _library_step(case: str, finished: int, scenario: str, batch: int, samples: int, seed: int) -> Callable[[], None]:
    from retain.config import OptimizerConfig, TrainConfig
    from retain.training.distributed import Distributed
    from retain.training.step import EpochTally, Step

    algorithm, (data, task) = _setup(case, finished, scenario, samples, seed)
    cfg = TrainConfig(optimizer=OptimizerConfig(name="adam", lr=1e-4))
    step = Step(algorithm, cfg, Distributed(), torch.device("cpu"))
    batches = list(data.shuffled(batch, torch.Generator().manual_seed(seed)))
    batches = [b for b in batches if len(b.y) == batch]
    tally = EpochTally(torch.device("cpu"), torch.Generator().get_state(), {}, 0, 0)
    state = {"i": 0}

    def run() -> None:
        i = state["i"] = (state["i"] + 1) % len(batches)
        step(batches[i], task, i, tally)

    return run


def _floor_step(finished: int, scenario: str, batch: int, samples: int, seed: int) -> Callable[[], None]:
    """The minimal plain-PyTorch step of the same model: its current head only, cross-entropy, Adam."""
    from torch import nn

    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(256, 2 if scenario != "cil" else 2 * (finished + 1)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(seed)
    xs = [torch.randn(batch, *INPUT_SHAPE, generator=gen) for _ in range(8)]
    ys = [torch.randint(0, 2, (batch,), generator=gen) for _ in range(8)]
    state = {"i": 0}

    def run() -> None:
        i = state["i"] = (state["i"] + 1) % len(xs)
        loss = F.cross_entropy(model(xs[i]), ys[i])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return run


@dataclasses.dataclass
class StepSettings:
    finished: tuple[int, ...] = (1, 4, 9, 19)
    cases: tuple[str, ...] = (*BASELINES, *STEP_CASES)
    scenario: str = "til"
    batch: int = 64
    samples: int = 1024
    steps: int = 30
    rounds: int = 5
    seed: int = 0


def _round(runs: dict[str, Callable[[], None]], steps: int) -> dict[str, float]:
    """One round: `steps` steps of every case, the cases taking turns step by step (so that a change of
    the machine's load falls on all of them alike); each case's median seconds per step."""
    times: dict[str, list[float]] = {case: [] for case in runs}
    for _ in range(steps):
        for case, run in runs.items():
            start = time.perf_counter()
            run()
            times[case].append(time.perf_counter() - start)
    return {case: statistics.median(seconds) for case, seconds in times.items()}


def measure_steps(settings: StepSettings) -> list[dict[str, Any]]:
    """One row per (k, case): the median step in seconds over the rounds, every round's figure, and the
    median over the rounds of the ratio to the Finetuning step and to the floor step of the same round."""
    s = settings
    rows = []
    for k in s.finished:
        runs = {
            c: _floor_step(k, s.scenario, s.batch, s.samples, s.seed)
            if c == "floor"
            else _library_step(c, k, s.scenario, s.batch, s.samples, s.seed)
            for c in s.cases
        }
        for run in runs.values():  # warm-up
            for _ in range(3):
                run()
        rounds = [_round(runs, s.steps) for _ in range(s.rounds)]
        for c in s.cases:
            row: dict[str, Any] = {"k": k, "case": c, "seconds": statistics.median(r[c] for r in rounds)}
            row["round_seconds"] = [r[c] for r in rounds]
            for base in BASELINES:
                if base in runs:
                    row[f"ratio_{base}"] = statistics.median(r[c] / r[base] for r in rounds)
            row["unit_floor"] = unit_floor(c, k)
            rows.append(row)
    return rows


def step_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of `measure_steps`: ms per step, the ratios, and the ratio to the floor step
    over the unit floor (1.0: the step costs what its arithmetic does relative to a plain step)."""
    lines = [
        "| k | case | ms/step | ratio to Finetuning step | ratio to floor step | unit floor | floor ratio / unit floor |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(row: dict[str, Any], key: str) -> str:
        return f"{row[key]:.2f}" if key in row else "–"

    for row in rows:
        over = f"{row['ratio_floor'] / row['unit_floor']:.2f}" if "ratio_floor" in row else "–"
        lines.append(
            f"| {row['k']} | {row['case']} | {1000 * row['seconds']:.2f} | {cell(row, 'ratio_finetuning')} | "
            f"{cell(row, 'ratio_floor')} | {row['unit_floor']:.2f} | {over} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import os
    from pathlib import Path

    from retain.runs.store import atomic_write_text

    parser = argparse.ArgumentParser(prog="retain bench speed --per-step", description=__doc__.splitlines()[0])
    parser.add_argument("--finished", default="1,4,9,19", help="comma-separated numbers of finished tasks k")
    parser.add_argument("--cases", default=",".join(StepSettings.cases), help="comma-separated case names")
    parser.add_argument("--scenario", default="til", choices=["til", "dil", "cil"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1024, help="training samples (cached targets)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per case and round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speed_step.json"))
    args = parser.parse_args(argv)
    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    unknown = [c for c in cases if c not in STEP_CASES and c not in BASELINES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; valid: {[*BASELINES, *STEP_CASES]}")
    if min(args.steps, args.rounds) < 1:
        parser.error(f"--steps {args.steps} / --rounds {args.rounds}: each must be at least 1")
    torch.set_num_threads(args.threads)
    settings = StepSettings(
        tuple(int(k) for k in args.finished.split(",")),
        cases,
        args.scenario,
        args.batch_size,
        args.samples,
        args.steps,
        args.rounds,
        args.seed,
    )
    load_before = os.getloadavg()
    started = time.time()
    rows = measure_steps(settings)
    report = {
        "settings": {**dataclasses.asdict(settings), "threads": args.threads},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "seconds": time.time() - started,
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), step_table(rows) + "\n")
    print(step_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
