"""Nearest class mean on the backbone's features: SimpleCIL (Zhou et al., "Revisiting Class-Incremental
Learning with Pre-Trained Models", arXiv:2303.07338, IJCV 2024), the baseline of pretrained continual
learning; NCM classifiers in general since Mensink et al. (TPAMI 2013)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from retain.algorithms.base import Algorithm, Batch
from retain.algorithms.class_means import ClassMeans
from retain.models.heads import HeadsTIL
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.scenarios.task import Task
    from retain.training.batch import Batches

CHUNK = 1024  # samples per backbone call while averaging


@dataclass(frozen=True)
class NCMParams:
    """Hyperparameters of NCM.

    Attributes:
        metric: `cosine` (SimpleCIL's prototype classifier: cosine similarity to each class mean) or
            `euclidean` (nearest mean by Euclidean distance, Mensink et al.).
    """

    metric: Literal["cosine", "euclidean"] = "cosine"


class NCM(Algorithm):
    """Each class is the mean of its training samples' features; a test sample takes the nearest mean.

    Nothing trains (`trains` is False: the loop runs no epoch), so on a frozen pretrained backbone this is
    SimpleCIL, the honest reference of LwF's numbers there. The means of each task are kept apart (sums
    and counts, `ClassMeans`): TIL tests task t on its own classes; DIL and CIL on the means of all tasks
    so far, merged exactly (in DIL a class's mean covers every domain seen). Unlearning a task removes its
    sums: the result is exactly the model that never saw it.
    """

    Params = NCMParams
    trains = False

    def __init__(self, model: ContinualModel, params: NCMParams | None = None) -> None:
        super().__init__(model, params)
        self.means: dict[int, ClassMeans] = {}  # by task id
        self.pending: ClassMeans | None = None  # the current task's, until it ends

    @torch.no_grad()
    def on_training_data(self, data: Batches) -> None:
        """Average the features of the task's (un-augmented) training data, once."""
        was_training = self.model.training
        self.model.eval()
        means = ClassMeans()
        for batch in data.in_order(CHUNK):
            means.add(self.model.features(batch.x, 0), batch.y)  # plain backbones ignore the task id
        self.model.train(was_training)
        self.pending = means

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        raise RuntimeError("NCM takes no gradient step (trains = False): the loop runs no epoch for it")

    def on_task_end(self, task: Task) -> None:
        if self.pending is not None:
            self.means[task.id] = self.pending
            self.pending = None

    @torch.no_grad()
    def eval_logits(self, x: torch.Tensor, task_id: int, seen: int) -> torch.Tensor:
        features = self.model.features(x, task_id)
        if isinstance(self.model.heads, HeadsTIL):
            return self.means[task_id].scores(features, self.params.metric)
        tasks = [m for t, m in sorted(self.means.items()) if t <= seen]
        return ClassMeans.merged(tasks).scores(features, self.params.metric)

    def forget(self, task_ids: Sequence[int]) -> None:
        """Remove the unlearned tasks' class sums (exact: as if those tasks were never seen; an unlearned
        TIL task keeps its classes, without samples, and no class of it is preferred)."""
        for u in task_ids:
            if u in self.means:
                self.means[u] = self.means[u].emptied()

    def reopen_task(self, task_id: int) -> None:
        """Take the last task's means back as pending, so that `on_task_end` files them again."""
        self.pending = self.means.pop(task_id, None)

    def state_dict(self) -> dict[str, Any]:
        pending = None if self.pending is None else self.pending.state_dict()
        return {"means": {t: m.state_dict() for t, m in self.means.items()}, "pending": pending}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.means = {int(t): ClassMeans.from_state(m) for t, m in state["means"].items()}
        self.pending = None if state["pending"] is None else ClassMeans.from_state(state["pending"])
