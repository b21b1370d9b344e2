"""Independent training: the upper bound for TIL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from retain.algorithms.base import (
    Algorithm,
    Batch,
    classification_terms,
    frozen_copy,
    snapshot_from_state,
    snapshot_state,
)
from retain.models.model import ContinualModel
from retain.models.pretrained import PretrainedBackbone

if TYPE_CHECKING:
    from retain.scenarios.task import Task


def reset_parameters(model: torch.nn.Module) -> None:
    """Re-initialise every submodule that knows how (Linear, Conv, BatchNorm, ...)."""
    for module in model.modules():
        # getattr, not attribute access: Module.__getattr__ is typed for parameters and submodules only
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
        reset_stats = getattr(module, "reset_running_stats", None)
        if callable(reset_stats):
            reset_stats()


class Independent(Algorithm):
    """A fresh model per task: re-initialised at each task's start and frozen at its end (a pretrained
    backbone restarts from its pretrained weights; a frozen one is shared by the task models).

    Task j is always tested with its own model j, so Independent uses the task id at test time in every
    scenario (a task oracle): nothing is forgotten and nothing is transferred. loss = CE(logits_t(x), y).
    """

    def __init__(self, model: ContinualModel, params: object = None) -> None:
        super().__init__(model, params)
        self.models: dict[int, ContinualModel] = {}
        backbone = model.backbone
        trainable_pretrained = isinstance(backbone, PretrainedBackbone) and not backbone.frozen
        # a pretrained backbone restarts from its pretrained weights, not from random ones
        self.pretrained = {k: v.clone() for k, v in backbone.state_dict().items()} if trainable_pretrained else None

    def on_task_start(self, task: Task) -> None:
        if not isinstance(self.model.backbone, PretrainedBackbone):
            reset_parameters(self.model)
            return
        if self.pretrained is not None:
            self.model.backbone.load_state_dict(self.pretrained)
        reset_parameters(self.model.heads)

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        return classification_terms(self.model(batch.x, task.id), batch.y)

    def on_task_end(self, task: Task) -> None:
        self.models[task.id] = frozen_copy(self.model)

    def reopen_task(self, task_id: int) -> None:
        """Drop the frozen model of `task_id` (the last task): the live model is task `task_id`'s again
        (the unlearning target) until `on_task_end` freezes it anew."""
        self.models.pop(task_id, None)

    def state_dict(self) -> dict[str, Any]:
        """Each finished task's own model, as plain weights keyed by task id."""
        return {"models": {t: snapshot_state(m) for t, m in self.models.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.models = {int(t): snapshot_from_state(self.model, s) for t, s in state["models"].items()}

    def eval_logits(self, x: torch.Tensor, task_id: int, seen: int) -> torch.Tensor:
        own = self.models[task_id]
        return own(x, own.heads.eval_head(task_id, task_id))

    def eval_features(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        return self.models[task_id].features(x, task_id)

    def unlearning_target(self, task_id: int) -> torch.nn.Module:
        # model u once task u has ended; the live model while task u is the one just trained
        return self.models.get(task_id, self.model)
