"""The golden cases: small, fixed runs on the embedded Split Digits whose exact numbers are pinned.

Each case is a config mapping (as in YAML) on top of `BASE`. `compute` trains it on the CPU with one
thread and returns what the golden file of the case holds: the accuracy matrix and, for every task, the
loss terms of its first logged epoch (task 2's is where LwF's distillation term first appears).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from retain.algorithms import ALGORITHMS
from retain.experiment.build import as_config, build
from retain.training.loop import LoopLogger, run_sequence

SCENARIOS = ("til", "dil", "cil")

# Cheap but not trivial: 5 tasks x 2 digits, a 32-unit MLP, 2 epochs of 5 steps per task. Old tasks
# end below 1.0 and Finetuning forgets CIL's old tasks completely. Everything that changes the numbers
# on another machine is pinned here rather than left to a default that may depend on it (device).
BASE: dict[str, Any] = {
    "seed": 0,
    "benchmark": {"name": "split_digits"},
    "backbone": {"name": "mlp", "hidden": [32]},
    "train": {"epochs": 2, "batch_size": 64, "device": "cpu"},
}

# The logged terms pinned per task (those an algorithm logs; `acc` is covered by the matrix).
LOSS_TERMS = ("loss", "loss_cls", "distillation_reg")

# The unlearnable algorithms of the first version, under their names of then (each case is pinned since).
LEGACY_AMNESIAC = ("amnesiac_finetuning", "amnesiac_lwf", "amnesiac_independent")

# A multi-task request: after task 4, unlearn tasks 1 and 3 (task 5 then trains on the unlearned model).
UNLEARNING_REQUEST = {4: [1, 3]}

# LwF's non-default choices; with the defaults (per_task, cross_entropy) in the `lwf-<scenario>` case,
# every teacher mode and every distance is covered in every scenario.
LWF_VARIANTS: dict[str, dict[str, str]] = {
    "kl": {"teacher": "per_task", "distance": "kl"},
    "mse": {"teacher": "per_task", "distance": "mse"},
    "previous": {"teacher": "previous", "distance": "cross_entropy"},
}


def _cases() -> dict[str, dict[str, Any]]:
    """Case name -> the config entries it sets on top of `BASE`."""
    cases: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        for name in ALGORITHMS:
            cases[f"{name}-{scenario}"] = {"scenario": scenario, "algorithm": {"name": name}}
        for variant, params in LWF_VARIANTS.items():
            cases[f"lwf-{variant}-{scenario}"] = {"scenario": scenario, "algorithm": {"name": "lwf", **params}}
        for legacy in LEGACY_AMNESIAC:  # the first version's names: `<x>` + `unlearning.method: amnesiac`
            cases[f"{legacy}-{scenario}"] = {"scenario": scenario, "algorithm": {"name": legacy}}
        # the AG/DD judgement trains two more runs per case; the matrix pins the unlearning
        unlearning = {"requests": UNLEARNING_REQUEST, "evaluate": False}
        for name in LEGACY_AMNESIAC:
            cases[f"{name}-unlearn-{scenario}"] = {
                "scenario": scenario,
                "algorithm": {"name": name},
                "unlearning": unlearning,
            }
        # any algorithm wrapped in an unlearning method, e.g. Joint (whose unlearned data is then left out)
        cases[f"joint-unlearn-{scenario}"] = {
            "scenario": scenario,
            "algorithm": {"name": "joint"},
            "unlearning": {"method": "amnesiac", **unlearning},
        }
    return dict(sorted(cases.items()))


CASES: dict[str, dict[str, Any]] = _cases()


def config_of(case: Mapping[str, Any]) -> dict[str, Any]:
    """The full config mapping of a case: `BASE` with the case's entries merged in, section by section."""
    config = copy.deepcopy(BASE)
    for key, value in case.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), Mapping):
            config[key] = {**config[key], **copy.deepcopy(dict(value))}
        else:
            config[key] = copy.deepcopy(value)
    return config


class FirstEpochLosses(LoopLogger):
    """Keeps the loss terms of the first logged epoch of every task, as `metrics.jsonl` logs them."""

    def __init__(self) -> None:
        self.by_task: dict[str, dict[str, float]] = {}

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        if str(task_id) not in self.by_task:
            self.by_task[str(task_id)] = {k: float(terms[k]) for k in LOSS_TERMS if k in terms}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the body with one torch thread, restoring the thread count after.

    The thread count can change the order of BLAS reductions, hence the last bits of every number;
    with one thread they depend only on the code (and the CPU's kernels)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def compute(case: Mapping[str, Any]) -> dict[str, Any]:
    """Train `case` on the CPU, one thread, and return its golden record.

    This is `retain.run` without the run folder: the same `build` and seeded generator, then
    `run_sequence` with a logger that keeps the first epoch's losses (writing a folder, checkpoints and
    plots would cost several times the training here). `test_golden.py` checks once that `run` itself
    gives the same numbers. The global RNG is restored afterwards, so the case leaves no trace.
    """
    cfg = as_config(config_of(case))
    with one_thread(), torch.random.fork_rng(devices=[]):
        benchmark, algorithm = build(cfg)
        losses = FirstEpochLosses()
        generator = torch.Generator().manual_seed(cfg.seed)  # as `retain.experiment.run.run` seeds it
        result = run_sequence(algorithm, benchmark, cfg.train, generator, torch.device("cpu"), losses)
    return {"accuracy_matrix": result.accuracy_matrix, "first_losses": losses.by_task}
