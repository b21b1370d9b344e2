"""The teachers of Learning without Forgetting (Li & Hoiem, ECCV 2016; arXiv:1606.09282) and the
distillation targets they give, computed as cheaply as the numbers allow.

LwF asks one question of `Teachers`: the targets of eq. 2–3 for this batch, one (head id, target) pair
per term of the sum over old tasks. Behind that call, each giving the numbers of a plain loop over the
frozen teachers (up to floating-point summation order where said):
- stacking: `per_task` backbones of one architecture are stacked (`torch.func.stack_module_state`) and
  run in one vmapped call (`StackedBackbones`) instead of T−1 forward passes;
- merging: teachers of the same student logits (DIL's shared head) give one summed cross-entropy target;
- caching: the targets of the task's whole training data are recorded once, before training;
- memory accounting of the snapshots and the cache.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from retain.algorithms.base import snapshot_from_state, snapshot_state
from retain.algorithms.distillation import DistillationReg
from retain.algorithms.memory import storage_bytes
from retain.models.heads import HeadDIL, HeadsTIL
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.training.batch import Batches

CACHE_BATCH = 1024  # samples per teacher call while recording the cache
Term = tuple[int, torch.Tensor]  # (old head id of the student logits, prepared target (B, K))


def _rebind(module: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], i: int) -> None:
    """Make `module`'s parameters and buffers views of row `i` of the stacked tensors (no second copy)."""
    for name, param in module.named_parameters():
        param.data = params[name][i]
    for name, _ in list(module.named_buffers()):
        owner_name, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        owner._buffers[leaf] = buffers[name][i]


class StackedBackbones:
    """Several frozen backbones of one architecture, run together: `(B, ...) → (P, B, D)`.

    The backbones' own parameters are re-pointed at views of the stack, so the stack is the only copy."""

    def __init__(self, backbones: Sequence[nn.Module]) -> None:
        if not backbones:
            raise ValueError("StackedBackbones needs at least one backbone")
        params, buffers = stack_module_state(list(backbones))
        self.params = {k: v.detach() for k, v in params.items()}
        self.buffers = {k: v.detach() for k, v in buffers.items()}
        for i, backbone in enumerate(backbones):
            _rebind(backbone, self.params, self.buffers, i)
        self.base = copy.deepcopy(backbones[0]).to("meta")  # structure only; weights come from the stack
        self.size = len(backbones)

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return vmap(self._one, in_dims=(0, 0, None))(self.params, self.buffers, x)  # (P, B, D)


def distilled_heads(snapshot: ContinualModel, seen: int) -> list[int]:
    """The head ids a whole-model teacher taken after `seen` tasks distils (`previous`): in TIL every old
    head; in DIL and CIL the last one, whose outputs already cover every class seen."""
    if isinstance(snapshot.heads, HeadsTIL):
        return list(range(1, seen + 1))
    return [seen]


class Teachers(Mapping[int, ContinualModel]):
    """LwF's frozen snapshots, keyed by the task after which each was taken, and the targets they give.

    `mode`: `per_task` keeps every snapshot and distils head p through snapshot p; `previous` keeps the
    last one and distils every head it had (`distilled_heads`). `cache` (`True`, `False`, `auto`: when
    the inputs carry no random augmentation) and `batched` (`True`, `False`, `auto`: on CUDA) are
    `LwFParams.cache_teacher` and `batch_teachers`. Any change of the set of teachers re-stacks them and
    drops the cache, whose targets were those of the old set.
    """

    def __init__(
        self,
        student: ContinualModel,
        distill: DistillationReg,
        mode: Literal["per_task", "previous"],
        cache: bool | Literal["auto"],
        batched: bool | Literal["auto"],
    ) -> None:
        self.student = student
        self.distill = distill
        self.mode = mode
        self.cache_mode = cache
        self.batch_mode = batched
        self._snapshots: dict[int, ContinualModel] = {}
        self.stack: StackedBackbones | None = None
        self.cache: list[Term] | None = None

    def __getitem__(self, task_id: int) -> ContinualModel:
        return self._snapshots[task_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._snapshots)

    def __len__(self) -> int:
        return len(self._snapshots)

    @property
    def shared_head(self) -> bool:
        """DIL with a plain backbone: every term distils the one head, which is also the current task's,
        so every term has the same student logits and cross-entropy targets can be summed."""
        return isinstance(self.student.heads, HeadDIL) and not self.student.task_conditioned

    @property
    def share_backbone(self) -> bool:
        """Whether every teacher uses the student's own (frozen) backbone: their features are the student's."""
        return bool(self._snapshots) and all(s.backbone is self.student.backbone for s in self._snapshots.values())

    def add(self, task_id: int, snapshot: ContinualModel) -> None:
        """Keep `snapshot`, taken after `task_id`, as a teacher (`previous`: instead of the last one)."""
        if self.mode == "previous":
            self._snapshots.clear()
        self._snapshots[task_id] = snapshot
        self._changed()

    def drop(self, task_ids: Sequence[int]) -> None:
        """Delete the teachers taken after `task_ids` (absent ones are ignored)."""
        for u in task_ids:
            self._snapshots.pop(u, None)
        self._changed()

    def _changed(self) -> None:
        self.cache = None
        mode = self.batch_mode
        on_gpu = next(self.student.parameters()).is_cuda
        batched = (mode is True or (mode == "auto" and on_gpu)) and self.mode == "per_task" and len(self) > 1
        # Task-conditioned backbones take the task id, which one vmapped call cannot vary per teacher;
        # teachers sharing the student's frozen backbone need one backbone pass for all of them.
        if batched and not self.student.task_conditioned and not self.share_backbone:
            self.stack = StackedBackbones([snap.backbone for _, snap in sorted(self._snapshots.items())])
        else:
            self.stack = None

    def pairs(self) -> list[tuple[ContinualModel, list[int]]]:
        """(teacher, head ids it distils) for every stored teacher, in a fixed order."""
        if self.mode == "per_task":
            return [(snap, [p]) for p, snap in sorted(self._snapshots.items())]
        return [(snap, distilled_heads(snap, p)) for p, snap in self._snapshots.items()]

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """(head id, teacher logits) for every teacher and head it distils, in the order of `pairs`."""
        pairs = self.pairs()
        if self.stack is not None:
            stacked = self.stack(x)  # (P, B, D): every per-task teacher in one call
            return [(p, teacher.heads(stacked[i], p)) for i, (teacher, (p,)) in enumerate(pairs)]
        out: list[tuple[int, torch.Tensor]] = []
        shared: torch.Tensor | None = None  # the features of a backbone shared by teachers and student
        for teacher, head_ids in pairs:
            features: torch.Tensor | None = None
            for p in head_ids:
                if teacher.backbone is self.student.backbone and not teacher.task_conditioned:
                    shared = features = shared if shared is not None else teacher.features(x, p)
                elif features is None or teacher.task_conditioned:
                    features = teacher.features(x, p)
                out.append((p, teacher.heads(features, p)))
        return out

    def targets(self, x: torch.Tensor, index: torch.Tensor | None = None) -> list[Term]:
        """One (head id, target) per term of the distillation sum for inputs `x`: the cached rows when
        `index` says which training samples `x` holds and the cache is recorded, else live teachers."""
        if self.cache is not None and index is not None:
            return [(p, target[index]) for p, target in self.cache]
        return self.live_targets(x)

    @torch.no_grad()
    def live_targets(self, x: torch.Tensor) -> list[Term]:
        """The teachers' prepared targets (`DistillationReg.target`); those of the same student logits
        merged (`DistillationReg.merge`): one cross-entropy term in DIL whatever the number of teachers."""
        groups: dict[int, tuple[int, list[torch.Tensor]]] = {}
        for p, logits in self.logits(x):
            key = 0 if self.shared_head else p
            groups.setdefault(key, (p, []))[1].append(self.distill.target(logits))
        return [(p, target) for p, targets in groups.values() for target in self.distill.merge(targets)]

    def record(self, data: Batches) -> None:
        """Record the targets of the task's training data once, when caching applies: a cached step then
        runs no teacher and no teacher softmax (with augmentation the cache holds un-augmented targets)."""
        self.cache = None
        mode = self.cache_mode
        if not self._snapshots or mode is False or (mode == "auto" and data.augmented):
            return
        chunks = [self.live_targets(batch.x) for batch in data.in_order(CACHE_BATCH)]
        self.cache = [(p, torch.cat([chunk[i][1] for chunk in chunks])) for i, (p, _) in enumerate(chunks[0])]

    def memory_bytes(self) -> dict[str, int]:
        """Bytes of the snapshots (`per_task`: one model copy per finished task, stored once even when
        stacked; `previous`: one copy) and of the cached targets."""
        own = {id(t) for t in (*self.student.parameters(), *self.student.buffers())}  # a shared backbone's
        teachers = [
            t for snap in self._snapshots.values() for t in (*snap.parameters(), *snap.buffers()) if id(t) not in own
        ]
        cached = [] if self.cache is None else [target for _, target in self.cache]
        return {"teachers": storage_bytes(teachers), "cache": storage_bytes(cached)}

    def state_dict(self) -> dict[int, Any]:
        """The snapshots as plain weights, keyed by the task after which each was taken."""
        return {p: snapshot_state(snap) for p, snap in self._snapshots.items()}

    def load_state_dict(self, state: Mapping[Any, Any]) -> None:
        self._snapshots = {int(p): snapshot_from_state(self.student, s) for p, s in state.items()}
        self._changed()
