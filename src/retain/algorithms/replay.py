"""Replay: any algorithm trained on its own data plus an exemplar memory (`retain.algorithms.exemplars`).

`Replay(LwF(model), memory)` is the iCaRL-style LwF with replay (Rebuffi et al. CVPR 2017): the replayed
samples enter the very batches LwF already sees, so its cross-entropy and its distillation both run on
current and replayed inputs. `Replay(Finetuning(model), memory)` is replay alone, the ablation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from retain.algorithms.base import Algorithm, Batch, TrainingData
from retain.algorithms.exemplars import ExemplarMemory
from retain.algorithms.memory import memory_bytes, storage_bytes
from retain.algorithms.nme import class_means, nearest_mean_logits
from retain.algorithms.weight_aligning import align_weights
from retain.models.heads import HeadsCIL

if TYPE_CHECKING:
    from retain.scenarios.task import Benchmark, Task
    from retain.training.batch import Batches

Classifier = Literal["head", "nme"]


class Replay(Algorithm):
    """An inner algorithm whose training data is the task's data followed by the memory's exemplars.

    Mixing ratio: the exemplars are appended to the task's training set and the loop shuffles the union,
    so each batch holds replayed samples in proportion |M| / (|M| + |D_t|) on average (iCaRL trains on
    the union the same way); every sample is seen once per epoch. At the end of each task, after the
    inner algorithm's end-of-task step (LwF's teacher), the memory is rebuilt from the task's training
    data with the model as trained. `classifier: nme` tests with the nearest mean of exemplars instead
    of the heads (`retain.algorithms.nme`). `weight_aligning` rescales each new CIL output block to the
    old blocks' mean weight norm at the end of its task (`retain.algorithms.weight_aligning`). Unlearning
    (`forget`) deletes the unlearned tasks' exemplars.
    """

    def __init__(
        self,
        algorithm: Algorithm,
        memory: ExemplarMemory,
        classifier: Classifier = "head",
        weight_aligning: bool = False,
    ) -> None:
        if weight_aligning and not isinstance(algorithm.model.heads, HeadsCIL):
            raise ValueError("weight aligning rescales a class-incremental head: it needs HeadsCIL")
        self.weight_aligning = weight_aligning
        self.inner = algorithm
        self.model = algorithm.model
        self.params = algorithm.params
        self.memory = memory
        self.classifier = classifier
        self.normalisation: tuple[list[float], list[float]] | None = None  # the benchmark's mean and std
        self._means: torch.Tensor | None = None  # NME class means, computed on first use after a change

    def training_data(self, benchmark: Benchmark, task: Task) -> TrainingData:
        self.normalisation = (list(benchmark.mean), list(benchmark.std))
        own = self.inner.training_data(benchmark, task)
        mem = self.memory
        if mem.x is None or not len(mem):
            return own
        task_ids = None if own.task_ids is None else torch.cat([own.task_ids, mem.task.to(own.task_ids.device)])
        x, y = torch.cat([own.x, mem.x.to(own.x.device)]), torch.cat([own.y, mem.y.to(own.y.device)])
        return TrainingData(x, y, task_ids)

    def on_task_start(self, task: Task) -> None:
        self._means = None
        self.inner.on_task_start(task)

    def on_training_data(self, data: Batches) -> None:
        self.inner.on_training_data(data)

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        return self.inner.training_step(batch, task)

    def on_task_end(self, task: Task) -> None:
        """Weight aligning (if asked), the inner algorithm's end of task (LwF's teacher: the aligned model),
        then the memory's rebuild with the trained model."""
        if self.weight_aligning:
            assert isinstance(self.model.heads, HeadsCIL)  # checked in __init__
            align_weights(self.model.heads, task.id)
        self.inner.on_task_end(task)
        features = None if self.memory.selection == "random" else lambda x: self._features(x, task.id)
        self.memory.update(task.id, task.x_train, task.y_train, features)
        self._means = None

    @torch.no_grad()
    def _features(self, x: torch.Tensor, task_id: int, batch_size: int = 1024) -> torch.Tensor:
        """Backbone features of uint8 images `x`, normalised as the loop does, in evaluation mode."""
        assert self.normalisation is not None, "training_data sets the normalisation before any task ends"
        device = next(self.model.parameters()).device
        mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in self.normalisation)
        was_training = self.model.training
        self.model.eval()
        out = [
            self.model.features((part.to(device).float().div_(255.0) - mean) / std, task_id)
            for part in x.split(batch_size)
        ]
        self.model.train(was_training)
        return torch.cat(out)

    def eval_logits(self, x: torch.Tensor, task_id: int, seen: int) -> torch.Tensor:
        if self.classifier == "head":
            return self.inner.eval_logits(x, task_id, seen)
        features = self.model.features(x, task_id)
        num_classes = self.model.heads(features[:1], self.model.heads.eval_head(task_id, seen)).shape[1]
        if self._means is None or len(self._means) != num_classes:
            self._means = self._class_means(task_id, num_classes)
        return nearest_mean_logits(features, self._means)

    def _class_means(self, task_id: int, num_classes: int) -> torch.Tensor:
        mem = self.memory
        if mem.x is None or not len(mem):
            return torch.full((num_classes, 1), torch.nan, device=next(self.model.parameters()).device)
        features = self._features(mem.x, task_id)
        return class_means(features, mem.y.to(features.device), num_classes)

    # the optional protocols, forwarded to the inner algorithm (see retain.unlearning.protocol)

    def unlearning_target(self, task_id: int) -> nn.Module:
        own = getattr(self.inner, "unlearning_target", None)
        return self.model if own is None else own(task_id)

    def forget(self, task_ids: Sequence[int]) -> None:
        """Delete the unlearned tasks' exemplars (before the next task and any later checkpoint), then let
        the inner algorithm forget what it keeps of them."""
        self.memory.forget(task_ids)
        self._means = None
        own = getattr(self.inner, "forget", None)
        if own is not None:
            own(task_ids)

    def reopen_task(self, task_id: int) -> None:
        own = getattr(self.inner, "reopen_task", None)
        if own is not None:
            own(task_id)
        elif type(self.inner).on_task_end is not Algorithm.on_task_end:
            raise NotImplementedError(f"{type(self.inner).__name__} overrides on_task_end but not reopen_task")
        self.memory.reopen(task_id)
        self._means = None

    def eval_features(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        own = getattr(self.inner, "eval_features", None)
        return self.model.features(x, task_id) if own is None else own(x, task_id)

    def memory_bytes(self) -> dict[str, int]:
        return {**memory_bytes(self.inner), "exemplars": storage_bytes(self.memory.tensors())}

    def state_dict(self) -> dict[str, Any]:
        return {
            "memory": self.memory.state_dict(),
            "normalisation": self.normalisation,
            "inner": self.inner.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.memory.load_state_dict(state["memory"])
        norm = state["normalisation"]
        self.normalisation = None if norm is None else (list(norm[0]), list(norm[1]))
        self._means = None
        self.inner.load_state_dict(state["inner"])
