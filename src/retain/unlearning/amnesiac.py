"""Amnesiac unlearning (after AmnesiacML, Graves, Nagisetty & Ganesh, AAAI 2021), for any algorithm.

The update each task made to the parameters is recorded; unlearning task u subtracts it again:
θ ← θ − Σ_{u∈U} Δθ_u (restoring task u's recorded start values, bit for bit, where a parameter has not
changed since u ended: see `UpdateRecorder`). The bookkeeping is a component (`UpdateRecorder`) composed with an inner
algorithm (`Amnesiac`), not a second inheritance chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from retain.algorithms.base import Algorithm, Batch, TrainingData, storage_bytes
from retain.algorithms.finetuning import Finetuning
from retain.algorithms.independent import Independent
from retain.algorithms.lwf import LwF, LwFParams
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.scenarios.task import Benchmark, Task
    from retain.training.data import DeviceBatches


class UpdateRecorder:
    """Records the update Δθ_t = θ_end − θ_start of every parameter for each task, and deletes updates.

    Heads created for task t exist (with their initial values) when t starts, so their whole training
    counts as task t's update. Buffers (e.g. BatchNorm running statistics) are not parameters and are
    not recorded or reverted.

    Deletion applies θ ← θ − Δθ_u (SPEC §5), with one exactness rule: where a parameter still holds
    exactly (bit for bit) the value it had when task u ended, nothing was learnt on top of task u's
    update, and θ − Δθ_u equals θ_start of task u in exact arithmetic; the recorded start value is then
    restored instead of subtracting (which would leave floating-point residue of order 1e-9). This is the
    case for Independent's per-task models, for a TIL head that only task u trained, and for every
    parameter when unlearning the task just trained. Everywhere else the subtraction applies.
    To that end θ_start and θ_end are kept per task; Δθ_u = θ_end − θ_start is computed when needed.
    A task's start value that equals the previous task's end value (the common case: nothing happens to a
    parameter between two tasks) shares that tensor instead of copying it, so T tasks hold about T + 1
    copies of the parameters, not 2T. Record tensors are never modified in place.
    """

    def __init__(self) -> None:
        # task → {"start": params, "end": params}, or {"delta": params} for records read from an older file
        self.records: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
        self._start: dict[str, torch.Tensor] = {}
        self._last_end: dict[str, torch.Tensor] = {}  # the end values of the task recorded last

    @property
    def updates(self) -> dict[int, dict[str, torch.Tensor]]:
        """Δθ_t for every recorded task t (computed from the records)."""
        return {t: self._delta(r) for t, r in self.records.items()}

    @staticmethod
    def _delta(record: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if "delta" in record:
            return dict(record["delta"])
        return {name: end - record["start"][name] for name, end in record["end"].items()}

    def start(self, model: nn.Module) -> None:
        """Remember the parameters at the start of a task (sharing the last recorded end values that they
        still equal bit for bit, see the class docstring)."""
        self._start = {}
        for name, p in model.named_parameters():
            previous = self._last_end.get(name)
            same = previous is not None and previous.shape == p.shape and torch.equal(previous, p.detach())
            self._start[name] = previous if same else p.detach().clone()

    def end(self, task_id: int, model: nn.Module) -> None:
        """Store task `task_id`'s record: its start parameters and the parameters now (its end)."""
        end = {name: p.detach().clone() for name, p in model.named_parameters() if name in self._start}
        self.records[task_id] = {"start": {name: self._start[name] for name in end}, "end": end}
        self._start = {}
        self._last_end = end

    def delete(self, task_ids: Iterable[int], targets: Mapping[int, nn.Module]) -> None:
        """θ ← θ − Δθ_u for each u (applied to `targets[u]`; exactly θ_start of u where the parameter has
        not changed since u ended, see the class docstring), then forget the records of those tasks."""
        ids = list(task_ids)
        missing = [u for u in ids if u not in self.records]
        if missing:
            raise ValueError(
                f"tasks {missing} cannot be unlearned: no recorded update (recorded: {sorted(self.records)})"
            )
        with torch.no_grad():
            for u in ids:
                params = dict(targets[u].named_parameters())
                record = self.records.pop(u)
                for name, delta in self._delta(record).items():
                    param = params[name]
                    if "end" in record and torch.equal(param, record["end"][name]):
                        param.copy_(record["start"][name])
                    else:
                        param.sub_(delta)

    def state_dict(self) -> dict[str, Any]:
        """The records and, inside a task, its start parameters (a mid-task resume needs them)."""
        return {
            "records": {str(t): {k: dict(v) for k, v in r.items()} for t, r in self.records.items()},
            "start": dict(self._start),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._last_end = {}  # sharing resumes with the next recorded task
        if "records" in state:
            self.records = {int(t): {k: dict(v) for k, v in r.items()} for t, r in state["records"].items()}
        else:  # a file written before start/end were kept: Δθ only, the subtraction applies everywhere
            self.records = {int(t): {"delta": dict(d)} for t, d in state["updates"].items()}
        self._start = dict(state.get("start", {}))


class Amnesiac(Algorithm):
    """Wraps an inner algorithm with amnesiac bookkeeping and scheduled unlearning.

    Order after task t: training ends → Δθ_t recorded → requested unlearning (θ ← θ − Σ Δθ_u; the inner
    algorithm drops what it keeps of u, e.g. LwF's teachers) → the inner algorithm's end-of-task step
    (LwF takes its new teacher from the model *after* unlearning, so no teacher teaches an unlearned task
    back) → evaluation by the loop.
    """

    inner_cls: ClassVar[type[Algorithm]]
    can_unlearn: ClassVar[bool] = True

    def __init__(self, model: ContinualModel, params: Any = None) -> None:
        super().__init__(model, params)
        names = {f.name for f in dataclasses.fields(self.inner_cls.Params)}
        inner_params = self.inner_cls.Params(**{n: getattr(self.params, n) for n in names})
        self.inner = self.inner_cls(model, inner_params)
        self.recorder = None if self.params.disable_unlearning else UpdateRecorder()
        self.requests: dict[int, tuple[int, ...]] = {}
        self.unlearned: list[int] = []

    def schedule(self, requests: Mapping[int, Sequence[int]]) -> None:
        """Unlearn `requests[t]` right after task t (validated beforehand by `check_requests`)."""
        if requests and self.recorder is None:
            raise ValueError("unlearning requests need disable_unlearning = false")
        self.requests = {int(t): tuple(us) for t, us in requests.items()}

    def training_data(self, benchmark: Benchmark, task: Task) -> TrainingData:
        return self.inner.training_data(benchmark, task)

    def on_task_start(self, task: Task) -> None:
        self.inner.on_task_start(task)  # first: Independent re-initialises here
        if self.recorder is not None:
            self.recorder.start(self.model)

    def on_training_data(self, data: DeviceBatches) -> None:
        self.inner.on_training_data(data)

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        return self.inner.training_step(batch, task)

    def on_task_end(self, task: Task) -> None:
        if self.recorder is not None:
            self.recorder.end(task.id, self.model)
        self._close_task(task, self.requests.get(task.id, ()))

    def _close_task(self, task: Task, task_ids: Sequence[int]) -> None:
        """The end of `task` after its update is recorded: unlearning of `task_ids`, then the inner
        algorithm's end-of-task step (which sees the unlearned model)."""
        if task_ids:
            self.unlearn(task_ids)
        self.inner.on_task_end(task)

    def unlearn_after(self, task: Task, task_ids: Sequence[int]) -> None:
        """Unlearn `task_ids` from a finished run whose last task is `task` (`retain unlearn`), exactly
        as an in-run request after `task` would have: the inner algorithm's end-of-task step for `task`
        is undone (`reopen_task`: e.g. LwF's teacher of `task`, Independent's model of `task`), the tasks
        are unlearned, and the end-of-task step is taken again from the unlearned model."""
        self.inner.reopen_task(task.id)
        self._close_task(task, task_ids)

    def unlearn(self, task_ids: Sequence[int]) -> None:
        """Remove the updates of `task_ids` from the model(s) that learnt them, and their records."""
        if self.recorder is None:
            raise ValueError("this algorithm was built with disable_unlearning = true: nothing was recorded")
        targets = {u: self.inner.unlearning_target(u) for u in task_ids}
        self.recorder.delete(task_ids, targets)
        self.inner.forget(task_ids)
        self.unlearned.extend(task_ids)

    def memory_bytes(self) -> dict[str, int]:
        """The inner algorithm's, plus the unlearning `records` (shared tensors counted once)."""
        records = (
            []
            if self.recorder is None
            else [t for record in self.recorder.records.values() for values in record.values() for t in values.values()]
        )
        return {**self.inner.memory_bytes(), "records": storage_bytes(records)}

    def eval_logits(self, x: torch.Tensor, task_id: int, seen: int) -> torch.Tensor:
        return self.inner.eval_logits(x, task_id, seen)

    def eval_features(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        return self.inner.eval_features(x, task_id)

    def state_dict(self) -> dict[str, Any]:
        return {
            "records": None if self.recorder is None else self.recorder.state_dict(),
            "unlearned": list(self.unlearned),
            "inner": self.inner.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("records") is not None:
            if self.recorder is None:
                raise ValueError("state holds unlearning records but disable_unlearning = true")
            self.recorder.load_state_dict(state["records"])
        self.unlearned = [int(u) for u in state.get("unlearned", [])]
        self.inner.load_state_dict(state.get("inner", {}))


@dataclass(frozen=True)
class AmnesiacParams:
    """Hyperparameters of an amnesiac variant without inner hyperparameters.

    Attributes:
        disable_unlearning: true switches the bookkeeping off (reference runs); unlearning is then refused.
    """

    disable_unlearning: bool = False


@dataclass(frozen=True)
class AmnesiacLwFParams(LwFParams):
    """LwF's hyperparameters plus `disable_unlearning` (true switches the bookkeeping off)."""

    disable_unlearning: bool = False


class AmnesiacFinetuning(Amnesiac):
    """Finetuning with amnesiac unlearning: loss = CE(logits_t(x), y); unlearning θ ← θ − Σ_u Δθ_u."""

    Params = AmnesiacParams
    inner_cls = Finetuning


class AmnesiacLwF(Amnesiac):
    """LwF with amnesiac unlearning; unlearning task u also deletes the teacher stored after u."""

    Params = AmnesiacLwFParams
    inner_cls = LwF


class AmnesiacIndependent(Amnesiac):
    """Independent training with amnesiac unlearning: unlearning u returns model u to its initial weights
    (bit for bit: only task u ever changed model u, so its recorded start values are restored)."""

    Params = AmnesiacParams
    inner_cls = Independent
