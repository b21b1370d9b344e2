"""Testing: accuracy of the current model on a task's test (or validation) set."""

from __future__ import annotations

import torch

from retain.algorithms.base import Algorithm
from retain.training.batch import Batches
from retain.training.distributed import Distributed


@torch.no_grad()
def accuracy(
    algorithm: Algorithm,
    test: Batches,
    task_id: int,
    seen: int,
    batch_size: int,
    dist: Distributed | None = None,
) -> float:
    """Fraction of `test` classified correctly when testing task `task_id` after `seen` tasks.

    Under torchrun each rank tests its shard of every batch and the counts are summed over the ranks."""
    model = algorithm.model
    was_training = model.training
    model.eval()
    dist = dist or Distributed()
    correct = torch.zeros((), dtype=torch.long, device=test.device)
    for batch in test.in_order(batch_size):
        part = slice(dist.rank, None, dist.world_size)
        correct += (algorithm.eval_logits(batch.x[part], task_id, seen).argmax(dim=1) == batch.y[part]).sum()
    model.train(was_training)
    return dist.sum_(correct).item() / max(len(test), 1)  # one host sync per task
