"""Joint training: the upper bound for DIL and CIL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from retain.algorithms.base import Algorithm, Batch, TrainingData
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.scenarios.task import Benchmark, Task


class Joint(Algorithm):
    """One model trained on the data of every task seen so far, all at once.

    At task t the model (continuing from its weights after task t−1) trains on the union of tasks
    1..t, so after the last task it has seen all tasks' data jointly and the accuracy matrix is full.
    Each sample is classified by the head its own task uses at test time (TIL: its task's head).
    loss = mean over the batch of CE(logits_{head(sample)}(x), y). Wrapped in an unlearning method,
    an unlearned task's data is left out of every later task's training set.
    """

    def __init__(self, model: ContinualModel, params: object = None) -> None:
        super().__init__(model, params)
        self.forgotten: list[int] = []  # unlearned tasks: their data is not trained on again

    def training_data(self, benchmark: Benchmark, task: Task) -> TrainingData:
        seen = [t for t in benchmark.tasks if t.id <= task.id and t.id not in self.forgotten]
        ids = [torch.full((len(t.y_train),), t.id, dtype=torch.long) for t in seen]
        return TrainingData(torch.cat([t.x_train for t in seen]), torch.cat([t.y_train for t in seen]), torch.cat(ids))

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        model = self.model
        task_ids = batch.task_ids if batch.task_ids is not None else torch.full_like(batch.y, task.id)
        features = model.features(batch.x, task.id)
        # head used for a sample of task j after task.id tasks; index 0 unused (ids are 1-based)
        lookup = [0] + [model.heads.eval_head(j, task.id) for j in range(1, task.id + 1)]
        head_of = torch.tensor(lookup, device=task_ids.device)[task_ids]  # (B,)
        total = features.new_zeros(())
        preds = torch.empty_like(batch.y)
        for head_id in sorted(set(lookup[1:])):
            mask = head_of == head_id  # no host sync: an empty group adds 0
            logits = model.heads(features[mask], head_id)
            total = total + F.cross_entropy(logits, batch.y[mask], reduction="sum")
            preds[mask] = logits.detach().argmax(dim=1)
        loss = total / len(batch.y)
        return {"loss": loss, "loss_cls": loss, "acc": (preds == batch.y).float().mean(), "preds": preds}

    def forget(self, task_ids: Sequence[int]) -> None:
        """Leave the unlearned tasks' data out of every later task's training (the data was withdrawn)."""
        self.forgotten = sorted({*self.forgotten, *task_ids})

    def state_dict(self) -> dict[str, Any]:
        return {"forgotten": list(self.forgotten)} if self.forgotten else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.forgotten = [int(t) for t in state.get("forgotten", [])]
