"""An exemplar memory: a fixed budget of stored training samples, rebuilt at the end of every task.

The memory keeps raw samples (uint8 images, as the task data holds them) with their labels and the id of
the task they came from, as plain tensors, so a checkpoint stores and restores them exactly. At the end of
task t the per-class budget m is recomputed (`per_class`, or `size // classes seen`), every class already
held keeps the first m of its exemplars (each class is stored in selection order, so this is iCaRL's
ReduceExemplarSet, Rebuffi et al. CVPR 2017, Alg. 5) and each class of task t selects m of its samples:

- `random`: a random subset, from a generator seeded by the run's seed and the task id only (a resumed
  run, `retain unlearn` and the uninterrupted run draw the same subset);
- `herding`: iCaRL's ConstructExemplarSet (Alg. 4) on the backbone's L2-normalised features: the k-th
  exemplar is the sample that brings the mean of the k chosen closest to the class mean.

A class is a class of one task (DIL tasks share their labels, and each task's classes get their own
exemplars). "Classes seen" counts the classes of unlearned tasks too: a class's budget never depends on what was
unlearned, so deleting a task's exemplars leaves every other exemplar exactly as it would have been
without the request (and `retain unlearn` on a finished run equals the in-run request). The slots of a
deleted task stay free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

Features = Callable[[torch.Tensor], torch.Tensor]  # uint8 images (n, C, H, W) -> features (n, D)
Selection = Literal["random", "herding"]


@dataclass(frozen=True)
class MemoryBudget:
    """How many exemplars the memory holds: `size` in total (shared equally by the classes seen), or
    `per_class` for each class; exactly one of the two is set."""

    size: int | None = None
    per_class: int | None = None

    def __post_init__(self) -> None:
        if (self.size is None) == (self.per_class is None):
            raise ValueError(
                f"give exactly one of size and per_class, got size={self.size}, per_class={self.per_class}"
            )

    def per_class_budget(self, classes_seen: int) -> int:
        """m: the exemplars each class may keep once `classes_seen` classes have been learnt."""
        if self.per_class is not None:
            return self.per_class
        assert self.size is not None
        return self.size // max(classes_seen, 1)


def herding_order(features: torch.Tensor, m: int) -> torch.Tensor:
    """Indices of `m` exemplars chosen by herding (iCaRL Alg. 4) from `features` (n, D), in order of choice.

    p_k = argmin_x ‖μ − (1/k)(φ(x) + Σ_{j<k} φ(p_j))‖ with φ L2-normalised and μ the mean of φ over the
    class; a sample is chosen at most once.
    """
    phi = F.normalize(features.double(), dim=1)  # float64: ties between near-identical samples break alike
    # With s = Σ_{j<k} φ(p_j) and ‖φ(x)‖ = 1, k²‖μ − (φ(x) + s)/k‖² = ‖kμ − s‖² − 2⟨φ(x), kμ − s⟩ + 1, so
    # the argmin is the argmax of k⟨φ(x), μ⟩ − ⟨φ(x), s⟩: one matrix–vector product per pick, not an (n, D)
    # difference, and ⟨φ(x), s⟩ grows by one column of φφᵀ per pick.
    toward_mean = phi @ phi.mean(dim=0)
    toward_chosen = torch.zeros_like(toward_mean)
    chosen = torch.empty(min(m, len(phi)), dtype=torch.long, device=phi.device)
    taken = torch.zeros(len(phi), dtype=torch.bool, device=phi.device)
    for k in range(len(chosen)):
        scores = (k + 1) * toward_mean - toward_chosen
        scores[taken] = -torch.inf
        pick = scores.argmax()
        chosen[k], taken[pick] = pick, True
        toward_chosen += phi @ phi[pick]
    return chosen.cpu()


def random_order(n: int, m: int, seed: int) -> torch.Tensor:
    """`m` of `n` indices drawn at random from a generator seeded with `seed` alone."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:m]


class ExemplarMemory:
    """The stored exemplars (`x` uint8, `y` labels, `task` the run's task id of each), grouped by class
    in selection order; `classes` holds how many classes each task learnt so far brought (unlearned
    ones included)."""

    def __init__(self, budget: MemoryBudget, selection: Selection = "random", seed: int = 0) -> None:
        self.budget = budget
        self.selection = selection
        self.seed = seed
        self.x: torch.Tensor | None = None
        self.y = torch.empty(0, dtype=torch.long)
        self.task = torch.empty(0, dtype=torch.long)
        self.classes: dict[int, int] = {}
        self.forgotten: set[int] = set()

    def __len__(self) -> int:
        return len(self.y)

    def update(self, task_id: int, x: torch.Tensor, y: torch.Tensor, features: Features | None = None) -> None:
        """The end of task `task_id` (training data `x`, `y`): shrink every class to the new budget, then
        select the exemplars of the task's classes (none if the task was unlearned).

        `features` maps uint8 images to backbone features; herding needs it."""
        classes = torch.unique(y)
        self.classes[task_id] = len(classes)
        m = self.budget.per_class_budget(sum(self.classes.values()))
        self._shrink(m)
        if task_id in self.forgotten:
            return
        for i, c in enumerate(classes.tolist()):
            where = (y == c).nonzero().flatten()
            chosen = where[self._select(x[where], m, task_id, i, features)]
            self._append(x[chosen], y[chosen], torch.full((len(chosen),), task_id, dtype=torch.long))

    def _select(self, x: torch.Tensor, m: int, task_id: int, i: int, features: Features | None) -> torch.Tensor:
        if self.selection == "random":
            return random_order(len(x), m, (self.seed * 1_000_003 + task_id * 1_009 + i) % 2**63)
        if features is None:
            raise ValueError("herding selection needs the backbone's features")
        return herding_order(features(x), m)

    def _shrink(self, m: int) -> None:
        """Keep the first `m` exemplars of every class (each class is stored in selection order)."""
        if not len(self):
            return
        rank = torch.zeros(len(self), dtype=torch.long)
        groups = torch.unique(torch.stack([self.task, self.y], dim=1), dim=0).tolist()
        for t, c in groups:  # a class of a task: DIL tasks share their labels
            where = ((self.task == t) & (self.y == c)).nonzero().flatten()
            rank[where] = torch.arange(len(where))
        self._keep(rank < m)

    def _keep(self, mask: torch.Tensor) -> None:
        assert self.x is not None
        self.x, self.y, self.task = self.x[mask], self.y[mask], self.task[mask]

    def _append(self, x: torch.Tensor, y: torch.Tensor, task: torch.Tensor) -> None:
        x = x.cpu()
        self.x = x.clone() if self.x is None else torch.cat([self.x, x])
        self.y = torch.cat([self.y, y.cpu()])
        self.task = torch.cat([self.task, task])

    def forget(self, task_ids: Iterable[int]) -> None:
        """Delete every exemplar of `task_ids`; those tasks never enter the memory again."""
        ids = set(task_ids)
        self.forgotten |= ids
        if len(self):
            self._keep(~torch.isin(self.task, torch.tensor(sorted(ids), dtype=torch.long)))

    def reopen(self, task_id: int) -> None:
        """Undo `update` for `task_id`, the last task: drop its exemplars and its classes from the count,
        so that `update` can run again. The other classes stay as they are (their budget is the same)."""
        if len(self):
            self._keep(self.task != task_id)
        self.classes.pop(task_id, None)

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.x, self.y, self.task) if t is not None]

    def state_dict(self) -> dict[str, Any]:
        """The memory as plain tensors and numbers (read back bit for bit by `load_state_dict`)."""
        return {
            "x": self.x,
            "y": self.y,
            "task": self.task,
            "classes": [[t, n] for t, n in sorted(self.classes.items())],
            "forgotten": sorted(self.forgotten),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x = None if state["x"] is None else state["x"].cpu()
        self.y, self.task = state["y"].cpu(), state["task"].cpu()
        self.classes = {int(t): int(n) for t, n in state["classes"]}
        self.forgotten = {int(t) for t in state["forgotten"]}
