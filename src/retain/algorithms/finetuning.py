"""Finetuning: the lower bound of continual learning."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from retain.algorithms.base import Algorithm, Batch, classification_terms

if TYPE_CHECKING:
    from retain.scenarios.task import Task


class Finetuning(Algorithm):
    """Train each task with cross-entropy on its own data, starting from the previous task's weights.

    loss = CE(logits_t(x), y). Nothing protects old tasks; in TIL only head t receives a gradient.
    """

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        return classification_terms(self.model(batch.x, task.id), batch.y)
