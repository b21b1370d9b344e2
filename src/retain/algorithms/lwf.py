"""Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017; arXiv:1606.09282)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F

from retain.algorithms.base import Algorithm, Batch, frozen_copy
from retain.algorithms.distillation import DistillationReg
from retain.algorithms.teachers import Teachers
from retain.errors import ConfigError
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.scenarios.task import Task
    from retain.training.batch import Batches


@dataclass(frozen=True)
class LwFParams:
    """Hyperparameters of LwF.

    Attributes:
        distillation_reg_factor: λ_o in the paper (1 there); weight of each old task's distillation term.
        distillation_reg_temperature: T in the paper (2 there).
        teacher: `per_task` (CLArena: a frozen model per finished task) or `previous` (the paper: one
            frozen copy of the model as it was before the current task).
        distance: `cross_entropy` (paper eq. 2–3), `kl` (Hinton KD, ×T²) or `mse` (logits, as in DER).
        train_old_heads: false (CLArena: distillation does not move old TIL heads / old CIL outputs) or
            true (the paper: old heads are trained by the distillation term).
        cache_teacher: teacher targets once per task instead of once per batch (the paper records them
            before training). `auto`: when the inputs carry no random augmentation; `true` forces it.
        batch_teachers: `per_task` teachers run as one over their stacked weights (an MLP: one batched
            matmul per layer; other backbones: one vmapped call). `auto`: on CUDA, and on the CPU for
            MLP teachers, where the batched matmuls measured faster than a loop and vmap slower
            (docs/benchmarks.md).
    """

    distillation_reg_factor: float = 1.0
    distillation_reg_temperature: float = 2.0
    teacher: Literal["per_task", "previous"] = "per_task"
    distance: Literal["cross_entropy", "kl", "mse"] = "cross_entropy"
    train_old_heads: bool = False
    cache_teacher: bool | Literal["auto"] = "auto"
    batch_teachers: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        for name in ("distillation_reg_factor", "distillation_reg_temperature"):
            value = getattr(self, name)
            if not 0 < value < math.inf:  # also rejects NaN and inf
                raise ConfigError(name, value, "must be > 0 and finite")


class LwF(Algorithm):
    """Learning without Forgetting: finetuning plus distillation from the earlier models' outputs.

    A new task trains the shared backbone and the new head on the new task's data alone, while the old
    heads' outputs on those inputs are held close to those of a frozen teacher recorded before the task,
    which stands in for the old data (none is kept).

    loss = CE(ŷ_n, y) + Σ_{o ∈ old heads} λ_o · L_old(ŷ_o, y_o)

    Implements eq. 1 (L_new, the new task's cross-entropy), eq. 2 (L_old = −Σ_i y'_o,i · log ŷ'_o,i)
    and eq. 3 (y'_o, ŷ'_o: the teacher's and the student's probabilities at temperature T); the sum
    over old tasks is not averaged (the paper takes "the sum of the loss for each old task").
    Choices on which implementations differ:
    - teacher: `per_task` (default; CLArena) distils head p through a frozen model kept after task p
      (memory grows with T); `previous` (the paper) distils every old head through the model as it
      was after the last task.
    - distilled outputs: TIL, head p's logits; DIL, the shared head's; CIL, the classes the teacher knew.
    - old heads: detached in L_old by default (CLArena), trained by it with `train_old_heads` (the
      paper). The shared DIL head is never detached, unlike CLArena: it is also the new task's head.
    - loss form: eq. 2–3 with 1e-5 added to the student's probabilities (CLArena), or Hinton's
      T²-scaled KL, or logit MSE (`DistillationReg`).
    - computation: the student's backbone runs once per batch unless task-conditioned; the old heads'
      logits come from one matmul over their stacked weights and the sum over old tasks is one
      reduction (`DistillationReg.loss_sum`) against the stacked targets of `Teachers`, which stacks
      `per_task` teachers, sums the cross-entropy targets of one student output and caches the targets
      once per task (un-augmented inputs), each with the plain loop's numbers.
    """

    Params = LwFParams

    def __init__(self, model: ContinualModel, params: LwFParams | None = None) -> None:
        super().__init__(model, params)
        p = self.params
        self.distill = DistillationReg(p.distillation_reg_factor, p.distillation_reg_temperature, p.distance)
        self.teachers = Teachers(model, self.distill, p.teacher, p.cache_teacher, p.batch_teachers)
        self.forgotten: set[int] = set()  # unlearned tasks (`forget`): no teacher is ever kept for one

    def on_training_data(self, data: Batches) -> None:
        self.teachers.record(data)

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        x = batch.x
        features = self.model.features(x, task.id)  # (B, D), once for every term
        logits = self.model.heads(features, task.id)  # (B, C): ŷ_n
        loss_cls = F.cross_entropy(logits, batch.y)  # eq. 1
        old = self.teachers.targets(x, batch.index)  # y'_o of every old task o, stacked (P, B, K)
        if old is None:
            reg = logits.new_zeros(())
        else:  # Σ_o λ_o · L_old(ŷ_o, y'_o), eq. 2–3, every term in one reduction
            reg = self.distill.loss_sum(self.old_logits(x, features, logits, old.heads), old.target, old.widths)
        preds = logits.detach().argmax(dim=1)
        return {
            "loss": loss_cls + reg,
            "loss_cls": loss_cls,
            "distillation_reg": reg,
            "acc": (preds == batch.y).float().mean(),
            "preds": preds,
        }

    def old_logits(
        self, x: torch.Tensor, features: torch.Tensor, logits: torch.Tensor, head_ids: Sequence[int]
    ) -> torch.Tensor:
        """ŷ_o: the student's logits of every old head in `head_ids` on `x`, stacked (P, B, K) from one
        matmul; old weights detached unless `train_old_heads`."""
        if self.model.task_conditioned:  # (P, B, D): the backbone as each old task sees it
            features = torch.stack([self.model.features(x, p) for p in head_ids])
        elif self.teachers.shared_head:
            return logits.expand(len(head_ids), *logits.shape)  # DIL: the current head, already computed
        return self.model.heads.stacked_old_logits(features, list(head_ids), self.params.train_old_heads)

    def on_task_end(self, task: Task) -> None:
        """Store the teacher for later tasks: a frozen snapshot of the model after `task`.

        A task unlearned at its own end (a request `{t: [t]}`) gets no teacher: `per_task` keeps none for
        it; `previous` keys the (unlearned) model by the last task still learnt, so it distils the heads
        the retrain reference's teacher would (none when every task so far is unlearned)."""
        key = max((t for t in range(1, task.id + 1) if t not in self.forgotten), default=None)
        if key is None or (self.params.teacher == "per_task" and key != task.id):
            return
        self.teachers.add(key, frozen_copy(self.model))

    def reopen_task(self, task_id: int) -> None:
        """Drop the teacher taken after `task_id` (the last task); `on_task_end` takes it again."""
        self.teachers.drop([task_id])

    def forget(self, task_ids: Sequence[int]) -> None:
        """Delete the teachers stored after the unlearned tasks, so nothing distils them back."""
        self.forgotten.update(task_ids)
        self.teachers.drop(task_ids)

    def memory_bytes(self) -> dict[str, int]:
        return self.teachers.memory_bytes()

    def state_dict(self) -> dict[str, Any]:
        return {"teachers": self.teachers.state_dict(), "forgotten": sorted(self.forgotten)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.teachers.load_state_dict(state["teachers"])
        self.forgotten = {int(t) for t in state.get("forgotten", [])}  # absent in older checkpoints
