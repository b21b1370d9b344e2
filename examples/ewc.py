"""EWC, Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017), written against retain's Algorithm
interface: the worked example of docs/custom-algorithm.md (tests/unit/test_examples.py runs it)."""

from dataclasses import dataclass

import torch

from retain.algorithms.base import Algorithm, Batch, classification_terms
from retain.training.data import normalise


@dataclass(frozen=True)
class EWCParams:
    """ewc_lambda: λ, weight of the penalty; fisher_batches: mini-batches of 32 used to estimate F."""

    ewc_lambda: float = 100.0
    fisher_batches: int = 8

    def __post_init__(self) -> None:
        if self.ewc_lambda < 0:
            raise ValueError(f"ewc_lambda = {self.ewc_lambda} is not valid: must be >= 0")
        if self.fisher_batches <= 0:
            raise ValueError(f"fisher_batches = {self.fisher_batches} is not valid: must be > 0")


class EWC(Algorithm):
    """Finetuning plus a quadratic penalty that anchors the weights important for earlier tasks.

    loss = CE(logits_t(x), y) + λ/2 · Σ_i F_i (θ_i − θ*_i)², with F the diagonal Fisher information
    (squared mini-batch gradients, summed over the finished tasks) and θ* the weights after the last task.
    """

    Params = EWCParams

    def __init__(self, model, params=None) -> None:
        super().__init__(model, params)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def training_data(self, benchmark, task):
        self.norm = (benchmark.mean, benchmark.std)  # on_task_end needs it to normalise task images
        return super().training_data(benchmark, task)

    def training_step(self, batch: Batch, task) -> dict[str, torch.Tensor]:
        terms = classification_terms(self.model(batch.x, task.id), batch.y)
        penalty = batch.x.new_zeros(())
        for name, p in self.model.named_parameters():
            if name in self.fisher:  # heads created after the last task have no anchor yet
                penalty = penalty + (self.fisher[name] * (p - self.anchor[name]) ** 2).sum()
        terms["ewc_penalty"] = self.params.ewc_lambda / 2 * penalty
        terms["loss"] = terms["loss_cls"] + terms["ewc_penalty"]
        return terms

    def on_task_end(self, task) -> None:
        device = next(self.model.parameters()).device
        mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in self.norm)
        order = torch.randperm(len(task.y_train), generator=torch.Generator().manual_seed(task.id))
        for k in range(self.params.fisher_batches):
            idx = order[32 * k : 32 * (k + 1)]
            if len(idx) == 0:
                break
            x, y = normalise(task.x_train[idx].to(device), mean, std), task.y_train[idx].to(device)
            self.model.zero_grad()
            torch.nn.functional.cross_entropy(self.model(x, task.id), y).backward()
            for name, p in self.model.named_parameters():
                if p.grad is not None:
                    self.fisher[name] = self.fisher.get(name, 0) + p.grad.detach() ** 2 / self.params.fisher_batches
        self.model.zero_grad()
        self.anchor = {name: p.detach().clone() for name, p in self.model.named_parameters()}
