"""The teachers of Learning without Forgetting (Li & Hoiem, ECCV 2016; arXiv:1606.09282) and the
distillation targets they give, computed as cheaply as the numbers allow.

LwF asks one question of `Teachers`: the targets of eq. 2–3 for this batch, one row per term of the sum
over old tasks, stacked into one tensor (`Targets`) so that the student's side of every term is one
matmul and one reduction. Behind that call, each giving the numbers of a plain loop over the frozen
teachers (up to floating-point summation order where said):
- stacking: `per_task` backbones of one architecture run as one (`StackedBackbones`: one batched matmul
  per layer for an MLP, one vmapped call otherwise) instead of T−1 forward passes;
- merging: teachers of the same student logits (DIL's shared head) give one summed cross-entropy target;
- caching: the targets of the task's whole training data are recorded once, before training;
- memory accounting of the snapshots and the cache.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F

from retain.algorithms.base import snapshot_from_state, snapshot_state
from retain.algorithms.distillation import DistillationReg, padding_mask
from retain.algorithms.memory import storage_bytes
from retain.algorithms.stacked import StackedBackbones, linear_layers
from retain.models.heads import HeadDIL, HeadsTIL
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.training.batch import Batches

CACHE_BATCH = 1024  # samples per teacher call while recording the cache


@dataclass(frozen=True)
class Targets:
    """The distillation targets of a batch, one row per term of the sum over old tasks (eq. 2–3).

    `heads[p]` is the old head whose student logits term p distils, `target[p]` its prepared target
    (`DistillationReg.target`) of shape (B, K), `widths[p]` its number of outputs when the terms differ
    in it (CIL: old task p knew fewer classes; zeros past the width), None when all have K."""

    heads: tuple[int, ...]
    target: torch.Tensor  # (P, B, K)
    widths: tuple[int, ...] | None = None

    def rows(self, index: torch.Tensor) -> Targets:
        """The targets of samples `index` (of a cache recorded for the task's training data)."""
        return Targets(self.heads, self.target[:, index], self.widths)

    def terms(self) -> list[tuple[int, torch.Tensor]]:
        """(head id, target (B, width)) per term: what a plain loop over the terms would see."""
        widths = self.widths or (self.target.shape[-1],) * len(self.heads)
        return [(p, self.target[i, :, :w]) for i, (p, w) in enumerate(zip(self.heads, widths))]


def stack_padded(tensors: Sequence[torch.Tensor], fill: float) -> tuple[torch.Tensor, tuple[int, ...] | None]:
    """(P, B, K) from P tensors (B, K_p), the narrower padded with `fill`, and the widths K_p when
    they differ (else None)."""
    widths = tuple(t.shape[-1] for t in tensors)
    if len(set(widths)) == 1:
        return torch.stack(list(tensors)), None
    width = max(widths)
    return torch.stack([F.pad(t, (0, width - t.shape[-1]), value=fill) for t in tensors]), widths


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
        self.cache: Targets | None = None

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
        self.stack = None
        if self.mode != "per_task" or len(self) < 2 or self.student.task_conditioned or self.share_backbone:
            # task-conditioned backbones take the task id, which one stacked call cannot vary; teachers
            # sharing the student's frozen backbone need one backbone pass for all of them
            return
        backbones = [snap.backbone for _, snap in sorted(self._snapshots.items())]
        on_gpu = next(self.student.parameters()).is_cuda
        # auto: on CUDA; on the CPU for backbones of linear layers, where batched matmuls beat the loop
        auto = on_gpu or linear_layers(backbones[0]) is not None
        if self.batch_mode is True or (self.batch_mode == "auto" and auto):
            self.stack = StackedBackbones(backbones)

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
            if len(head_ids) > 1 and isinstance(teacher.heads, HeadsTIL) and not teacher.task_conditioned:
                rows = teacher.heads.stacked_old_logits(teacher.features(x, head_ids[0]), head_ids, True)
                widths = [teacher.heads.heads[p - 1].out_features for p in head_ids]
                out += [(p, rows[i, :, :w]) for i, (p, w) in enumerate(zip(head_ids, widths))]
                continue  # `previous` in TIL: every old head of the one teacher from one matmul
            features: torch.Tensor | None = None
            for p in head_ids:
                if teacher.backbone is self.student.backbone and not teacher.task_conditioned:
                    shared = features = shared if shared is not None else teacher.features(x, p)
                elif features is None or teacher.task_conditioned:
                    features = teacher.features(x, p)
                out.append((p, teacher.heads(features, p)))
        return out

    def targets(self, x: torch.Tensor, index: torch.Tensor | None = None) -> Targets | None:
        """The targets of every term of the distillation sum for inputs `x` (None without teachers): the
        cached rows when `index` says which training samples `x` holds and the cache is recorded, else
        those of the live teachers."""
        if not self._snapshots:
            return None
        if self.cache is not None and index is not None:
            return self.cache.rows(index)
        return self.live_targets(x)

    @torch.no_grad()
    def live_targets(self, x: torch.Tensor) -> Targets:
        """The teachers' prepared targets (`DistillationReg.target`, one softmax over all of them); those
        of the same student logits merged (`DistillationReg.merge`): one cross-entropy term in DIL
        whatever the number of teachers."""
        heads, logits = zip(*self.logits(x))
        stacked, widths = stack_padded(logits, -math.inf)  # −inf: padding outside every softmax
        target = self.distill.target(stacked)
        if widths is not None:
            target = target.masked_fill(~padding_mask(widths, target.shape[-1], target.device), 0.0)
        if self.shared_head:
            merged = self.distill.merge(list(target))
            return Targets((heads[0],) * len(merged), torch.stack(merged))  # one head: all the same logits
        return Targets(tuple(heads), target, widths)

    def record(self, data: Batches) -> None:
        """Record the targets of the task's training data once, when caching applies: a cached step then
        runs no teacher and no teacher softmax (with augmentation the cache holds un-augmented targets)."""
        self.cache = None
        mode = self.cache_mode
        if not self._snapshots or mode is False or (mode == "auto" and data.augmented):
            return
        chunks = [self.live_targets(batch.x) for batch in data.in_order(CACHE_BATCH)]
        whole = torch.cat([chunk.target for chunk in chunks], dim=1)  # (P, N, K)
        self.cache = Targets(chunks[0].heads, whole, chunks[0].widths)

    def memory_bytes(self) -> dict[str, int]:
        """Bytes of the snapshots (`per_task`: one model copy per finished task, stored once even when
        stacked; `previous`: one copy) and of the cached targets."""
        own = {id(t) for t in (*self.student.parameters(), *self.student.buffers())}  # a shared backbone's
        teachers = [
            t for snap in self._snapshots.values() for t in (*snap.parameters(), *snap.buffers()) if id(t) not in own
        ]
        cached = [] if self.cache is None else [self.cache.target]
        return {"teachers": storage_bytes(teachers), "cache": storage_bytes(cached)}

    def state_dict(self) -> dict[int, Any]:
        """The snapshots as plain weights, keyed by the task after which each was taken."""
        return {p: snapshot_state(snap) for p, snap in self._snapshots.items()}

    def load_state_dict(self, state: Mapping[Any, Any]) -> None:
        self._snapshots = {int(p): snapshot_from_state(self.student, s) for p, s in state.items()}
        self._changed()
