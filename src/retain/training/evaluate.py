"""Testing: accuracy of the current model on a task's test (or validation) set."""

from __future__ import annotations

import torch

from retain.algorithms.base import Algorithm
from retain.training.data import DeviceBatches, LoaderBatches


@torch.no_grad()
def accuracy(
    algorithm: Algorithm, test: DeviceBatches | LoaderBatches, task_id: int, seen: int, batch_size: int
) -> float:
    """Fraction of `test` classified correctly when testing task `task_id` after `seen` tasks."""
    model = algorithm.model
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=test.device)
    for batch in test.in_order(batch_size):
        correct += (algorithm.eval_logits(batch.x, task_id, seen).argmax(dim=1) == batch.y).sum()
    model.train(was_training)
    return correct.item() / max(len(test), 1)  # one host sync per task
