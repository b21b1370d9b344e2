"""Model selection on a validation set: keep the weights of the epoch of best validation accuracy."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from retain.training.evaluate import accuracy

if TYPE_CHECKING:
    from retain.algorithms.base import Algorithm
    from retain.scenarios.task import Task
    from retain.training.batch import Batches
    from retain.training.distributed import Distributed


class BestEpoch:
    """The epoch of best validation accuracy within one task (the first on ties), with its weights.

    Without a validation set it tracks nothing and the model keeps its last epoch. Not part of a
    mid-task checkpoint: a run resumed inside a task tracks the best epoch from there on.
    """

    def __init__(self, val: Batches | None, epochs: int) -> None:
        self.val, self.acc, self.epoch = val, -1.0, epochs
        self.state: dict[str, Any] | None = None  # the best epoch's model.state_dict()

    def update(self, algorithm: Algorithm, task: Task, epoch: int, batch_size: int, ranks: Distributed) -> float | None:
        if self.val is None:
            return None
        acc = accuracy(algorithm, self.val, task.id, task.id, batch_size, ranks)
        if acc > self.acc:
            self.acc, self.epoch, self.state = acc, epoch, copy.deepcopy(algorithm.model.state_dict())
        return acc

    def patience_exhausted(self, epoch: int, patience: int | None) -> bool:
        return self.val is not None and patience is not None and epoch - self.epoch >= patience

    def restore(self, algorithm: Algorithm) -> int:
        if self.state is not None:
            algorithm.model.load_state_dict(self.state)
        return self.epoch
