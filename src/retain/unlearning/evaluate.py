"""Judging an unlearned model against its two references (docs/unlearning.md) and writing `unlearning.json`.

- the *retrain reference*: the same sequence with the unlearned tasks left out (`benchmark.without`);
- the *original reference*: the same sequence, no unlearning.
Both use the run's seed and no unlearning method (`unlearning.method: none`); they are trained here (and saved under
`references/` in the run folder) unless `unlearning.retrain_reference` / `original_reference` name run
folders to reuse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

import retain.unlearning.protocol as protocol
from retain.algorithms.base import Algorithm
from retain.metrics.unlearning import DISTANCES, accuracy_gain, mean_over
from retain.training.batch import Batches
from retain.unlearning.requests import unlearned_tasks

if TYPE_CHECKING:
    from retain.config import Config
    from retain.scenarios.task import Benchmark


def reference_config(cfg: Config, without: tuple[int, ...]) -> Config:
    """The config of a reference run: no unlearning method, no requests, tasks `without` left out."""
    from retain.config import UnlearningConfig

    return dataclasses.replace(
        cfg,
        benchmark=dataclasses.replace(cfg.benchmark, without=tuple(sorted(set(cfg.benchmark.without) | set(without)))),
        unlearning=UnlearningConfig(evaluate=False),
        out=None,
    )


@torch.no_grad()
def _features(algorithm: Algorithm, test: Batches, task_id: int, batch_size: int) -> torch.Tensor:
    model = algorithm.model
    was_training = model.training
    model.eval()
    feats = torch.cat([protocol.eval_features(algorithm, b.x, task_id) for b in test.in_order(batch_size)])
    model.train(was_training)
    return feats.flatten(1)


def scope_tasks(scope: str, unlearned: list[int], remaining: list[int]) -> list[int]:
    return {"all": sorted(unlearned + remaining), "unlearned": unlearned, "remaining": remaining}[scope]


def distribution_distances(
    model: Algorithm,
    retrain: Algorithm,
    tests: Mapping[int, Batches],
    retrain_ids: Mapping[int, int],
    distance: Callable[[torch.Tensor, torch.Tensor], float],
    batch_size: int,
    model_ids: Mapping[int, int] | None = None,
) -> dict[int, float]:
    """DD per task: distance between the two models' backbone outputs on the task's test set.

    `tests` maps every task id of the run to its test set; `retrain_ids` maps a run task id to the
    retrain reference's id of the same task. A task the retrain reference never learnt is fed to its
    final backbone; task-conditioned backbones are compared under every task's view and the distances
    averaged. `model_ids` does for `model` what `retrain_ids` does for the reference (a rewound model
    lives in the reference's numbering); None: the run's ids."""
    conditioned = model.model.task_conditioned
    last = max(retrain_ids.values())
    result = {}
    for task_id, test in tests.items():
        views = list(tests) if conditioned else [task_id]
        values = [
            distance(
                _features(model, test, view if model_ids is None else model_ids.get(view, last), batch_size).cpu(),
                _features(retrain, test, retrain_ids.get(view, last), batch_size).cpu(),
            )
            for view in views
        ]
        result[task_id] = sum(values) / len(values)
    return result


def unlearning_report(
    cfg: Config,
    benchmark: Benchmark,
    final_accuracy: Mapping[int, float],
    original_accuracy: Mapping[int, float],
    retrain_accuracy: Mapping[int, float | None],
    dd_per_task: Mapping[int, float],
    references: Mapping[str, str],
) -> dict[str, Any]:
    """Everything `unlearning.json` holds (plain data)."""
    u_cfg = cfg.unlearning
    unlearned = unlearned_tasks(u_cfg.requests)
    remaining = [t.id for t in benchmark.tasks if t.id not in unlearned]
    accuracies = {
        "unlearned_model": final_accuracy,
        "original_reference": original_accuracy,
        "retrain_reference": retrain_accuracy,
    }
    report: dict[str, Any] = {
        "requests": {str(t): list(us) for t, us in sorted(u_cfg.requests.items())},
        "unlearned_tasks": unlearned,
        "remaining_tasks": remaining,
        "ag": accuracy_gain(final_accuracy, original_accuracy, scope_tasks(u_cfg.ag_scope, unlearned, remaining)),
        "ag_scope": u_cfg.ag_scope,
        "dd": mean_over(dd_per_task, scope_tasks(u_cfg.dd_scope, unlearned, remaining)),
        "dd_scope": u_cfg.dd_scope,
        "dd_distance": u_cfg.distance,
        "dd_per_task": {str(j): v for j, v in dd_per_task.items()},
        "accuracy": {name: {str(j): v for j, v in accs.items()} for name, accs in accuracies.items()},
        "references": dict(references),
    }
    for name, accs in accuracies.items():
        report[f"{name}_accuracy_on_unlearned"] = mean_over(accs, unlearned)
        report[f"{name}_accuracy_on_remaining"] = mean_over(accs, remaining)
    return report


def distance_fn(name: str) -> Callable[[torch.Tensor, torch.Tensor], float]:
    return DISTANCES[name]
