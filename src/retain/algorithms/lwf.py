"""Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017; arXiv:1606.09282)."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F

from retain.algorithms.base import Algorithm, Batch, frozen_copy, snapshot_from_state, snapshot_state, storage_bytes
from retain.algorithms.distillation import DistillationReg
from retain.algorithms.teachers import StackedBackbones
from retain.errors import ConfigError
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.scenarios.task import Task
    from retain.training.data import DeviceBatches

CACHE_BATCH = 1024  # samples per teacher call while recording the cache


@dataclass(frozen=True)
class LwFParams:
    """Hyperparameters of LwF.

    Attributes:
        distillation_reg_factor: λ_o in the paper (1 there); weight of each old task's distillation term.
        distillation_reg_temperature: T in the paper (2 there).
        teacher: `per_task` (the reference system: a frozen backbone per finished task) or `previous`
            (the paper: one frozen copy of the model as it was before the current task).
        distance: `cross_entropy` (paper eq. 3), `kl` (Hinton KD, ×T²) or `mse` (logits, as in DER).
        train_old_heads: false (the reference: distillation does not move old TIL heads / old CIL
            outputs) or true (the paper: old heads are trained by the distillation term).
        cache_teacher: compute every teacher output once per task instead of once per batch (the
            paper records them before training). `auto`: when the inputs carry no random augmentation.
            `true` forces it (with augmentation the teachers then see the un-augmented images).
        batch_teachers: evaluate `per_task` teachers in one vmapped call over their stacked weights
            (same numbers as a loop, up to floating-point summation order). `auto`: on CUDA only — on
            the CPU the batched matmuls measured slower than a loop (docs/benchmarks.md).
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
    """Finetuning plus knowledge distillation from earlier models on the current task's inputs.

    loss = CE(logits_t(x), y) + Σ_{p ∈ teachers} λ_o · D(student_logits_p(x), teacher_logits_p(x))

    The sum over old tasks is not averaged (paper: "take the sum of the loss for each old task").
    Choices on which published implementations differ:
    - teacher: `per_task` keeps one frozen model per finished task p and distils head p through it
      (the reference; memory grows with T); `previous` keeps only the model as it was after the last
      task and distils every old head through it (the paper).
    - distilled outputs: TIL, head p's logits; DIL, the shared head's logits; CIL, the outputs of the
      classes the teacher knew (the growing head's old blocks).
    - old heads: by default the student's old heads are detached in the distillation term (the
      reference); `train_old_heads=True` lets distillation train them (the paper). The shared DIL
      head is never detached, unlike the reference, because it is also the current task's head.
    - loss form: eq. 3 cross-entropy with 1e-5 added to the student's probabilities (the reference),
      or Hinton's T²-scaled KL, or logit MSE.
    - the student's backbone runs once per batch unless the backbone is task-conditioned.
    - teachers: `per_task` backbones are stacked and run in one vmapped call (CUDA); their
      distillation targets (softened probabilities, summed over the teachers of one student's logits)
      are cached once per task when the inputs carry no random augmentation (`cache_teacher`).
    """

    Params = LwFParams

    def __init__(self, model: ContinualModel, params: LwFParams | None = None) -> None:
        super().__init__(model, params)
        p = self.params
        self.distill = DistillationReg(p.distillation_reg_factor, p.distillation_reg_temperature, p.distance)
        self.teachers: dict[int, ContinualModel] = {}  # task id after which the snapshot was taken
        self._stack: StackedBackbones | None = None
        self._cache: dict[int, tuple[int, list[torch.Tensor]]] | None = None  # see teacher_targets

    def on_training_data(self, data: DeviceBatches) -> None:
        """Record every distillation target for the task's training data once, when caching applies.

        What is cached is what the loss consumes: the teachers' softened probabilities (`cross_entropy`;
        summed over the teachers of one student's logits), so a cached step does no teacher softmax and,
        in DIL, holds one (N, K) tensor whatever the number of teachers."""
        self._cache = None
        mode = self.params.cache_teacher
        if not self.teachers or mode is False or (mode == "auto" and data.augmented):
            return
        chunks = [self.teacher_targets(batch.x) for batch in data.in_order(CACHE_BATCH)]
        self._cache = {
            key: (p, [torch.cat([chunk[key][1][i] for chunk in chunks]) for i in range(len(targets))])
            for key, (p, targets) in chunks[0].items()
        }

    def on_task_end(self, task: Task) -> None:
        """Store the teacher for later tasks: a frozen snapshot of the model after `task`."""
        self._cache = None
        if self.params.teacher == "previous":
            self.teachers.clear()
        self.teachers[task.id] = frozen_copy(self.model)
        self._restack()

    def reopen_task(self, task_id: int) -> None:
        """Drop the teacher taken after `task_id` (the last task); `on_task_end` takes it again."""
        self._cache = None
        self.teachers.pop(task_id, None)
        self._restack()

    def forget(self, task_ids: Sequence[int]) -> None:
        """Delete the teachers stored after the unlearned tasks, so nothing distils them back."""
        for u in task_ids:
            self.teachers.pop(u, None)
        self._restack()

    def _restack(self) -> None:
        """Re-stack the per-task teacher backbones (the stack is their only copy of the weights)."""
        mode = self.params.batch_teachers
        on_gpu = next(self.model.parameters()).is_cuda
        batched = (
            (mode is True or (mode == "auto" and on_gpu))
            and self.params.teacher == "per_task"
            and len(self.teachers) > 1
        )
        if batched and not self.model.task_conditioned:
            self._stack = StackedBackbones([snap.backbone for _, snap in sorted(self.teachers.items())])
        else:
            self._stack = None

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """(head id, teacher logits) for every distillation term, in a fixed order, without gradient."""
        pairs = self.distillation_pairs()
        if self._stack is not None:
            features = self._stack(x)  # (P, B, D): every per-task teacher in one call
            return [(p, teacher.heads(features[i], p)) for i, (teacher, (p,)) in enumerate(pairs)]
        out = []
        for teacher, head_ids in pairs:
            features = None
            for p in head_ids:
                if features is None or teacher.task_conditioned:
                    features = teacher.features(x, p)
                out.append((p, teacher.heads(features, p)))
        return out

    @torch.no_grad()
    def teacher_targets(self, x: torch.Tensor) -> dict[int, tuple[int, list[torch.Tensor]]]:
        """The teachers' prepared targets for inputs `x`, grouped by the student logits they distil:
        student key → (a head id that yields those student logits, merged targets) (`DistillationReg`)."""
        conditioned = self.model.task_conditioned
        groups: dict[int, tuple[int, list[torch.Tensor]]] = {}
        for p, logits in self.teacher_logits(x):
            key = p if conditioned else self.model.heads.student_key(p)
            groups.setdefault(key, (p, []))[1].append(self.distill.target(logits))
        return {key: (p, self.distill.merge(targets)) for key, (p, targets) in groups.items()}

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held besides the trained model: the teacher snapshots (`per_task`: one model copy per
        finished task, stored once even when stacked; `previous`: one copy) and the target cache."""
        teachers = [t for snap in self.teachers.values() for t in (*snap.parameters(), *snap.buffers())]
        cached = [] if self._cache is None else [q for _, targets in self._cache.values() for q in targets]
        return {"teachers": storage_bytes(teachers), "cache": storage_bytes(cached)}

    def state_dict(self) -> dict[str, Any]:
        """The teachers, as plain weights keyed by the task after which each was taken."""
        return {"teachers": {p: snapshot_state(snap) for p, snap in self.teachers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.teachers = {int(p): snapshot_from_state(self.model, s) for p, s in state["teachers"].items()}
        self._restack()

    def distillation_pairs(self) -> list[tuple[ContinualModel, list[int]]]:
        """(teacher, head ids it distils) for every stored teacher."""
        if self.params.teacher == "per_task":
            return [(snap, [p]) for p, snap in sorted(self.teachers.items())]
        return [(snap, snap.heads.distillation_targets(p)) for p, snap in self.teachers.items()]

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        model, x = self.model, batch.x
        conditioned = model.task_conditioned
        features = model.features(x, task.id)  # (B, D), computed once for plain backbones
        logits = model.heads(features, task.id)
        loss_cls = F.cross_entropy(logits, batch.y)
        if self._cache is not None and batch.index is not None:
            groups = {key: (p, [q[batch.index] for q in targets]) for key, (p, targets) in self._cache.items()}
        else:
            groups = self.teacher_targets(x)
        terms = []
        for p, targets in groups.values():
            if conditioned:
                student_logits = model.heads.old_logits(model.features(x, p), p, self.params.train_old_heads)
            elif model.heads.old_logits_are_current(p, task.id):
                student_logits = logits  # DIL: the shared head's output, already computed
            else:
                student_logits = model.heads.old_logits(features, p, self.params.train_old_heads)
            terms += [self.distill.loss(student_logits, target) for target in targets]
        reg = functools.reduce(operator.add, terms) if terms else logits.new_zeros(())
        preds = logits.detach().argmax(dim=1)
        return {
            "loss": loss_cls + reg,
            "loss_cls": loss_cls,
            "distillation_reg": reg,
            "acc": (preds == batch.y).float().mean(),
            "preds": preds,
        }
