"""The algorithm interface: a loss plus task-boundary hooks. The task loop owns everything else
(optimizer, epochs, device, logging, evaluation, checkpoints)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F

from retain.models.model import ContinualModel
from retain.models.pretrained import shares_frozen_backbone

# defined in the layer below the algorithms; `from retain.algorithms.base import Batch, TrainingData` still works
from retain.training.batch import Batch, Batches, TrainingData

if TYPE_CHECKING:
    from retain.scenarios.task import Benchmark, Task


@dataclass(frozen=True)
class NoParams:
    """Algorithms without hyperparameters."""


class Algorithm:
    """Base class of continual-learning algorithms.

    Subclasses set `Params` (a frozen dataclass of hyperparameters, validated in `__post_init__`) and
    implement `training_step`, returning named loss terms: `loss` is backpropagated, every other
    tensor term is logged; `preds` holds the batch's predicted labels. What only unlearning needs
    (`unlearning_target`, `forget`, `reopen_task`, `eval_features`) is an optional protocol that an
    algorithm implements where its defaults are wrong for it: see `retain.unlearning.protocol`.
    """

    Params: ClassVar[type] = NoParams
    trains: ClassVar[bool] = True  # False: the loop runs no epoch (NCM averages features, nothing to step)

    def __init__(self, model: ContinualModel, params: Any = None) -> None:
        self.model = model
        self.params = self.Params() if params is None else params
        if not isinstance(self.params, self.Params):
            raise TypeError(f"{type(self).__name__} expects {self.Params.__name__}, got {type(self.params).__name__}")

    def training_data(self, benchmark: Benchmark, task: Task) -> TrainingData:
        """The data to train `task` on: by default the task's own training set only."""
        return TrainingData(task.x_train, task.y_train)

    def on_task_start(self, task: Task) -> None:
        """Called before the first batch of `task`; the model already has the task's head."""

    def on_training_data(self, data: Batches) -> None:
        """Called once the task's training data is on the device, before the first batch."""

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_task_end(self, task: Task) -> None:
        """Called after the last update of `task`, before evaluation."""

    def eval_logits(self, x: torch.Tensor, task_id: int, seen: int) -> torch.Tensor:
        """Logits used to test task `task_id` after `seen` tasks (the scenario's heads decide which)."""
        return self.model(x, self.model.heads.eval_head(task_id, seen))

    def state_dict(self) -> dict[str, Any]:
        """Everything besides the model needed to continue the run from here (teachers, records, ...).

        Called at a task boundary or between two steps of a task (after `on_task_start`), so it must
        capture whatever `on_task_start` set up. Only plain data: tensors, numbers, strings, None and
        lists/tuples/dicts of them (checkpoints are read with `torch.load(weights_only=True)`); store a
        model as `snapshot_state(model)`. The model's own weights are saved by the checkpoint.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; `self.model` already has its weights and the heads of every task so far."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got keys {sorted(state)}")


def classification_terms(logits: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy, accuracy and predictions of one batch (kept on the device: no host sync)."""
    loss_cls = F.cross_entropy(logits, y)
    preds = logits.detach().argmax(dim=1)
    return {"loss": loss_cls, "loss_cls": loss_cls, "acc": (preds == y).float().mean(), "preds": preds}


def frozen_copy(model: ContinualModel) -> ContinualModel:
    """A deep copy of `model` in evaluation mode with gradients switched off (a teacher snapshot).

    An entirely frozen backbone (`backbone.freeze: all`) is not copied but shared: it never changes, so the
    snapshot's features are the model's (one copy of a ViT, not one per teacher)."""
    memo = {id(model.backbone): model.backbone} if shares_frozen_backbone(model) else {}
    snapshot = copy.deepcopy(model, memo).eval()
    for p in snapshot.parameters():
        p.requires_grad_(False)
    return snapshot


def snapshot_state(snapshot: ContinualModel) -> dict[str, Any]:
    """A model snapshot as plain data: how many heads it had, and its weights (a shared frozen backbone's
    weights are the model's own, saved with it, and left out here)."""
    shared = shares_frozen_backbone(snapshot)
    weights = snapshot.heads.state_dict(prefix="heads.") if shared else snapshot.state_dict()
    return {"num_heads": snapshot.heads.num_tasks, "weights": weights}


def snapshot_from_state(template: ContinualModel, state: dict[str, Any]) -> ContinualModel:
    """Rebuild a frozen snapshot saved by `snapshot_state`, using `template` (the current model) for the
    architecture: heads grow per task, so the copy keeps only the snapshot's first `num_heads` heads."""
    snapshot = frozen_copy(template)
    heads = snapshot.heads.heads
    if not 1 <= state["num_heads"] <= len(heads):
        raise ValueError(f"snapshot has {state['num_heads']} heads, the model {len(heads)}")
    snapshot.heads.heads = torch.nn.ModuleList(list(heads)[: state["num_heads"]])
    if shares_frozen_backbone(snapshot):  # the backbone is the template's own
        snapshot.heads.load_state_dict({k.removeprefix("heads."): v for k, v in state["weights"].items()})
    else:
        snapshot.load_state_dict(state["weights"])
    return snapshot
