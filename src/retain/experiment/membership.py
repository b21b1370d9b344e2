"""Membership inference in `unlearning.json`: the models' outputs gathered, the attacks of
`retain.unlearning.membership` run on them, for the unlearned model and both references.

Each model is seen in its own task numbering (`View`): the retrain reference and a rewound model live in
the sequence without the unlearned tasks. A sample of an unlearned task such a model has no head for is
scored as `retain.experiment.rewind` tests it: through the shared head in DIL, a freshly initialised
(never trained) head in TIL, and with probability 0 for its class in CIL (the model has no output for it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from retain.algorithms.base import Algorithm
from retain.config import Config
from retain.errors import CheckpointError, ConfigError
from retain.scenarios.task import Benchmark, Task
from retain.training.batch import TrainingData
from retain.training.data import DeviceBatches
from retain.training.session import Watch
from retain.unlearning.membership import (
    FEATURES,
    AttackData,
    likelihood_ratio,
    output_features,
    population_attack,
    scaled_logit,
)
from retain.unlearning.requests import unlearned_tasks

KEY = "unlearning.membership_min_samples"


@dataclass(frozen=True)
class View:
    """A model as the attack queries it: the algorithm and the benchmark in the model's own numbering."""

    algorithm: Algorithm
    benchmark: Benchmark


def _split(task: Task, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return (task.x_train, task.y_train) if split == "train" else (task.x_test, task.y_test)


@torch.no_grad()
def task_outputs(view: View, task: Task, split: str, device: torch.device, batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(probabilities (N, C), probability of the true class (N,)) of `view`'s model on the run task `task`."""
    ids = {t.origin: t for t in view.benchmark.tasks}
    seen = view.benchmark.num_tasks
    own = ids.get(task.origin)
    x, y = _split(own if own is not None else task, split)
    data = DeviceBatches(TrainingData(x, y), view.benchmark.mean, view.benchmark.std, device)
    model = view.algorithm.model
    was_training = model.training
    model.eval()
    head = None
    if own is None and view.benchmark.scenario == "til":
        with torch.random.fork_rng(devices=[]):  # the run's random state is left as it was
            torch.manual_seed(seed + task.id)
            head = nn.Linear(model.heads.input_dim, task.num_classes).to(device)
    probs, label = [], []
    for batch in data.in_order(batch_size):
        if head is not None:
            logits = head(model.features(batch.x, seen))
        else:
            logits = view.algorithm.eval_logits(batch.x, own.id if own is not None else seen, seen)
        p = F.softmax(logits.float(), dim=1)
        known = batch.y < p.shape[1]
        if own is None and view.benchmark.scenario == "cil":
            known = torch.zeros_like(known)  # no output of this model is one of the task's classes
        label.append(torch.where(known, p.gather(1, batch.y.clamp(max=p.shape[1] - 1)[:, None])[:, 0], 0.0))
        probs.append(p)
    model.train(was_training)
    return torch.cat(probs).cpu().numpy(), torch.cat(label).cpu().numpy()


def check_membership(cfg: Config, benchmark: Benchmark) -> None:
    """Refuse, before training, an attack with fewer than `membership_min_samples` samples to fit on
    (per class, after balancing and holding half out) or to score."""
    u_cfg = cfg.unlearning
    if not (u_cfg.requests and u_cfg.evaluate and u_cfg.membership):
        return
    unlearned = set(unlearned_tasks(u_cfg.requests))
    kept = [t for t in benchmark.tasks if t.id not in unlearned]
    gone = [t for t in benchmark.tasks if t.id in unlearned]
    fit = min(sum(len(t.y_train) for t in kept), sum(len(t.y_test) for t in kept), u_cfg.membership_samples) // 2
    counts = {
        f"fit on {fit} members and as many non-members (half of the balanced samples)": fit,
        "score only {n} training samples of the unlearned tasks": sum(len(t.y_train) for t in gone),
        "score only {n} test samples of the unlearned tasks": sum(len(t.y_test) for t in gone),
    }
    for what, n in counts.items():
        if n < u_cfg.membership_min_samples:
            raise ConfigError(
                KEY,
                u_cfg.membership_min_samples,
                f"the attack would {what.format(n=n)}: lower it or set membership: false",
            )


def _pool(view: View, tasks: list[Task], split: str, how: tuple[torch.device, int, int]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    outs = [task_outputs(view, t, split, *how) for t in tasks]
    return np.concatenate([output_features(p, y) for p, y in outs]), np.concatenate([y for _, y in outs])


def _cap(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[rng.permutation(len(x))[:n]]


def _attack(
    cfg: Config, benchmark: Benchmark, view: View, unlearned: set[int], device: torch.device
) -> tuple[dict[str, float | int], dict[str, np.ndarray]]:
    """The population attack on one model (members: the tasks of `benchmark` not in `unlearned`), and
    the scaled logits of the unlearned tasks' training and test samples."""
    kept = [t for t in benchmark.tasks if t.id not in unlearned]
    gone = [t for t in benchmark.tasks if t.id in unlearned]
    how = (device, cfg.train.eval_batch_size, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    members, _ = _pool(view, kept, "train", how)
    nonmembers, _ = _pool(view, kept, "test", how)
    targets, p_targets = _pool(view, gone, "train", how)
    tests, p_tests = _pool(view, gone, "test", how)
    n = cfg.unlearning.membership_samples
    data = AttackData(_cap(members, n, rng), _cap(nonmembers, n, rng), targets, tests)
    return population_attack(data, cfg.seed), {"targets": scaled_logit(p_targets), "tests": scaled_logit(p_tests)}


def membership_report(
    cfg: Config, benchmark: Benchmark, views: dict[str, View], device: torch.device
) -> dict[str, Any]:
    """The `membership` part of `unlearning.json` for `views` (`unlearned_model`, `retrain_reference`,
    `original_reference`): the population attack on each, and the likelihood ratio of each against the two
    references (the original reference as the IN model, the retrain reference as the OUT model)."""
    unlearned = set(unlearned_tasks(cfg.unlearning.requests))
    attacks, phis = {}, {}
    for name, view in views.items():
        attacks[name], phis[name] = _attack(cfg, benchmark, view, unlearned, device)
    ratio = {
        name: likelihood_ratio(phis[name], phis["original_reference"], phis["retrain_reference"])
        for name in views
        if name not in ("original_reference", "retrain_reference")
    }
    return {
        "features": list(FEATURES),
        "population": attacks,
        "likelihood_ratio": ratio,
        "target": "retrain_reference",
    }


class AttackAfterRequests(Watch):
    """The population attack on the live model after every task from the first request on (the relapse of
    the attack's score): members are the tasks learnt so far and kept, targets those unlearned so far."""

    def __init__(self, cfg: Config, benchmark: Benchmark, algorithm: Algorithm, device: torch.device) -> None:
        self.cfg, self.benchmark, self.algorithm, self.device = cfg, benchmark, algorithm, device
        self.scores: dict[int, dict[str, float | int]] = {}

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        requests = {t: us for t, us in self.cfg.unlearning.requests.items() if t <= after_task}
        if not requests:
            return
        seen = dataclasses.replace(self.benchmark, tasks=self.benchmark.tasks[:after_task])
        unlearned = set(unlearned_tasks(requests))
        self.scores[after_task] = _attack(self.cfg, seen, View(self.algorithm, seen), unlearned, self.device)[0]

    def state_dict(self) -> dict[str, Any]:
        return {"attack_after_task": {t: dict(s) for t, s in self.scores.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The rows attacked before an interruption (a resumed run does not train or attack them again)."""
        rows = state.get("attack_after_task", {})
        if not isinstance(rows, dict) or not all(isinstance(t, int) and isinstance(s, dict) for t, s in rows.items()):
            raise CheckpointError("the checkpoint's 'watch' entry is damaged: attack_after_task is not {row: numbers}")
        self.scores = {t: dict(s) for t, s in rows.items()}
