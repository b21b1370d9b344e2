"""EWC, Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017), written against retain's Algorithm
interface: the worked example of docs/custom-algorithm.md (tests/unit/test_examples.py runs it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from retain.algorithms.base import Algorithm, Batch, TrainingData, classification_terms
from retain.algorithms.memory import storage_bytes
from retain.errors import ConfigError
from retain.models.model import ContinualModel
from retain.training.data import normalise

if TYPE_CHECKING:
    from retain.scenarios.task import Benchmark, Task

Weights = dict[str, torch.Tensor]  # parameter name -> tensor of that parameter's shape


@dataclass(frozen=True)
class EWCParams:
    """Hyperparameters of EWC.

    Attributes:
        ewc_lambda: λ in eq. 3 of the paper, how much the old tasks weigh against the new one (0: finetuning).
        fisher_samples: training samples of a task whose squared gradients estimate its Fisher F.
    """

    ewc_lambda: float = 100.0
    fisher_samples: int = 256

    def __post_init__(self) -> None:
        if not 0 <= self.ewc_lambda < math.inf:  # also rejects NaN
            raise ConfigError("ewc_lambda", self.ewc_lambda, "must be >= 0 and finite")
        if self.fisher_samples < 1:
            raise ConfigError("fisher_samples", self.fisher_samples, "must be >= 1")


class EWC(Algorithm):
    """Finetuning plus a quadratic penalty that holds the weights important to earlier tasks in place.

    Eq. 3 of the paper, L(θ) = L_B(θ) + Σ_i λ/2 · F_i (θ_i − θ*_A,i)², with a term for every finished task k:

        loss = CE(logits_t(x), y) + λ/2 · Σ_{k<t} Σ_i F_k,i (θ_i − θ*_i)²

    F_k, task k's diagonal Fisher information, is the mean over `fisher_samples` of its training samples of
    (∂ log p(y | x, θ) / ∂θ_i)² at the weights task k ended with (the empirical Fisher: y is the label).
    One anchor θ*, the weights after the latest task (the single penalty Huszár, PNAS 2018, derives from the
    paper's Laplace approximation), not one per task: an anchor taken before an unlearning would pull the
    model back to the unlearned task; this one is taken again after it. A Fisher per task: unlearning u
    removes exactly u's term.

    Attributes:
        fisher: task id -> F of that task, for the parameters that task has a gradient for.
        anchor: θ*, every parameter after the latest `on_task_end` ({} before it and after `forget`).
        normalisation: the benchmark's mean and std (see `training_data`).
        forgotten: the unlearned tasks, of which no Fisher is taken again.
    """

    Params = EWCParams

    def __init__(self, model: ContinualModel, params: EWCParams | None = None) -> None:
        super().__init__(model, params)
        self.fisher: dict[int, Weights] = {}
        self.anchor: Weights = {}
        self.normalisation: dict[str, list[float]] | None = None
        self.forgotten: list[int] = []

    def training_data(self, benchmark: Benchmark, task: Task) -> TrainingData:
        """Task t's own data. Also keeps the benchmark's normalisation: `on_task_end` normalises the Fisher
        samples taken from `task` (uint8), and `retain unlearn` runs it with no data hook called before."""
        self.normalisation = {"mean": list(benchmark.mean), "std": list(benchmark.std)}
        return super().training_data(benchmark, task)

    def penalty(self) -> torch.Tensor:
        """Σ_k Σ_i F_k,i (θ_i − θ*_i)² over the kept tasks k (eq. 3 without λ/2); 0 with no anchor."""
        params = dict(self.model.named_parameters())
        total = next(iter(params.values())).new_zeros(())
        if not self.anchor:
            return total
        for k in sorted(self.fisher):  # a fixed order: the same sum after a resume
            for name, f in self.fisher[k].items():
                total = total + (f * (params[name] - self.anchor[name]) ** 2).sum()
        return total

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        terms = classification_terms(self.model(batch.x, task.id), batch.y)
        terms["ewc_penalty"] = self.params.ewc_lambda / 2 * self.penalty()
        terms["loss"] = terms["loss_cls"] + terms["ewc_penalty"]
        return terms

    def on_task_end(self, task: Task) -> None:
        """Estimate F of `task` at the final weights (unless `task` was just unlearned: its data must not
        weigh the penalty) and make those weights the anchor θ*."""
        if task.id not in self.forgotten:
            self.fisher[task.id] = self.estimate_fisher(task)
        self.anchor = {name: p.detach().clone() for name, p in self.model.named_parameters()}

    def estimate_fisher(self, task: Task) -> Weights:
        """The diagonal empirical Fisher of `task`, one sample at a time, in evaluation mode; the samples
        drawn by a generator seeded with the task id, so that no random stream of the run moves."""
        device = next(self.model.parameters()).device
        mean, std = (torch.tensor(self.normalisation[k], device=device).view(1, -1, 1, 1) for k in ("mean", "std"))
        n = min(self.params.fisher_samples, len(task.y_train))
        idx = torch.randperm(len(task.y_train), generator=torch.Generator().manual_seed(task.id))[:n]
        x, y = normalise(task.x_train[idx].to(device), mean, std), task.y_train[idx].to(device)
        named = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        fisher: Weights = {}
        training = self.model.training
        self.model.eval()
        with torch.enable_grad():
            for i in range(n):
                nll = F.cross_entropy(self.model(x[i : i + 1], task.id), y[i : i + 1])  # −log p(y_i | x_i, θ)
                grads = torch.autograd.grad(nll, [p for _, p in named], allow_unused=True)
                for (name, _), g in zip(named, grads):
                    if g is not None:  # None: a head this task does not use (TIL)
                        fisher[name] = fisher.get(name, 0) + g**2 / n
        self.model.train(training)
        return fisher

    # The optional unlearning protocol (retain.unlearning.protocol), called by the Amnesiac wrapper:
    def forget(self, task_ids: Sequence[int]) -> None:
        """Drop the unlearned tasks' Fisher terms (and take none of theirs again), and the anchor, which
        may hold their update: the wrapper runs `on_task_end` next, which takes it from the unlearned model."""
        for u in task_ids:
            self.fisher.pop(u, None)
        self.forgotten.extend(task_ids)
        self.anchor = {}

    def reopen_task(self, task_id: int) -> None:
        """Undo `on_task_end` of `task_id`, the last task (its Fisher, the anchor), so it can run again."""
        self.fisher.pop(task_id, None)
        self.anchor = {}

    def memory_bytes(self) -> dict[str, int]:
        fishers = [f for fisher in self.fisher.values() for f in fisher.values()]
        return {"fisher": storage_bytes(fishers), "anchor": storage_bytes(self.anchor.values())}

    def state_dict(self) -> dict[str, Any]:
        """Fishers, anchor, normalisation and unlearned tasks as tensors, lists and numbers only, so that a
        checkpoint reads back with `torch.load(weights_only=True)` and a resumed run continues bit for bit."""
        fisher = {k: dict(f) for k, f in self.fisher.items()}
        anchor, forgotten = dict(self.anchor), list(self.forgotten)
        return {"fisher": fisher, "anchor": anchor, "normalisation": self.normalisation, "forgotten": forgotten}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = next(self.model.parameters()).device  # checkpoints are read onto the CPU
        self.fisher = {int(k): {n: f.to(device) for n, f in fisher.items()} for k, fisher in state["fisher"].items()}
        self.anchor = {n: a.to(device) for n, a in state["anchor"].items()}
        self.normalisation = state["normalisation"]
        self.forgotten = [int(u) for u in state["forgotten"]]
