"""Amnesiac unlearning (after AmnesiacML, Graves, Nagisetty & Ganesh, AAAI 2021), for any algorithm.

The update each task made to the parameters is recorded; unlearning task u subtracts it again:
θ ← θ − Σ_{u∈U} Δθ_u (restoring task u's recorded start values, bit for bit, where a parameter has not
changed since u ended: see `UpdateRecorder`). `Amnesiac` wraps an algorithm instance, whichever it is:
`Amnesiac(LwF(model))`, `Amnesiac(Joint(model))`, `Amnesiac(MyEWC(model))`. What the wrapped algorithm
may add is the optional protocol of `retain.unlearning.protocol`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

import retain.unlearning.protocol as protocol
from retain.algorithms.base import Algorithm, Batch, TrainingData
from retain.algorithms.finetuning import Finetuning
from retain.algorithms.independent import Independent
from retain.algorithms.lwf import LwF, LwFParams
from retain.algorithms.memory import memory_bytes, storage_bytes
from retain.models.model import ContinualModel
from retain.unlearning.recorder import UpdateRecorder

if TYPE_CHECKING:
    from retain.scenarios.task import Benchmark, Task
    from retain.training.batch import Batches


class Amnesiac(Algorithm):
    """Amnesiac bookkeeping and scheduled unlearning around an inner algorithm.

    Everything the loop asks is forwarded to the inner algorithm; the wrapper adds the record of each
    task's update and the unlearning. Order after task t: training ends → Δθ_t recorded → requested
    unlearning (θ ← θ − Σ Δθ_u; the inner algorithm drops what it keeps of u, e.g. LwF's teachers) → the
    inner algorithm's end-of-task step (LwF takes its new teacher from the model *after* unlearning, so no
    teacher teaches an unlearned task back) → evaluation by the loop.
    """

    def __init__(self, algorithm: Algorithm) -> None:
        if isinstance(algorithm, Amnesiac):
            raise TypeError("the algorithm is already wrapped in Amnesiac")
        self.inner = algorithm
        self.model = algorithm.model
        self.params = algorithm.params
        self.recorder = UpdateRecorder()
        self.requests: dict[int, tuple[int, ...]] = {}
        self.unlearned: list[int] = []
        self.costs: list[dict[str, Any]] = []  # per request: seconds of the step, bytes of records it kept

    @property
    def trains(self) -> bool:  # type: ignore[override]  # the inner algorithm's
        return self.inner.trains

    def schedule(self, requests: Mapping[int, Sequence[int]]) -> None:
        """Unlearn `requests[t]` right after task t (validated beforehand by `check_requests`)."""
        self.requests = {int(t): tuple(us) for t, us in requests.items()}

    def training_data(self, benchmark: Benchmark, task: Task) -> TrainingData:
        return self.inner.training_data(benchmark, task)

    def on_task_start(self, task: Task) -> None:
        self.inner.on_task_start(task)  # first: Independent re-initialises here
        self.recorder.start(self.model)

    def on_training_data(self, data: Batches) -> None:
        self.inner.on_training_data(data)

    def training_step(self, batch: Batch, task: Task) -> dict[str, torch.Tensor]:
        return self.inner.training_step(batch, task)

    def on_task_end(self, task: Task) -> None:
        self.recorder.end(task.id, self.model)
        self._close_task(task, self.requests.get(task.id, ()))

    def _close_task(self, task: Task, task_ids: Sequence[int]) -> None:
        """The end of `task` after its update is recorded: unlearning of `task_ids`, then the inner
        algorithm's end-of-task step (which sees the unlearned model)."""
        if task_ids:
            kept = self.memory_bytes()["records"]
            clock = time.perf_counter()
            self.unlearn(task_ids)
            seconds = time.perf_counter() - clock
            self.costs.append(
                {"after_task": task.id, "tasks": list(task_ids), "seconds": seconds, "records_bytes": kept}
            )
        self.inner.on_task_end(task)

    def unlearn_after(self, task: Task, task_ids: Sequence[int]) -> None:
        """Unlearn `task_ids` from a finished run whose last task is `task` (`retain unlearn`), exactly
        as an in-run request after `task` would have: the inner algorithm's end-of-task step for `task`
        is undone (`reopen_task`: e.g. LwF's teacher of `task`, Independent's model of `task`), the tasks
        are unlearned, and the end-of-task step is taken again from the unlearned model."""
        protocol.reopen_task(self.inner, task.id)
        self._close_task(task, task_ids)

    def unlearn(self, task_ids: Sequence[int]) -> None:
        """Remove the updates of `task_ids` from the model(s) that learnt them, and their records."""
        targets = {u: protocol.unlearning_target(self.inner, u) for u in task_ids}
        self.recorder.delete(task_ids, targets)
        protocol.forget(self.inner, task_ids)
        self.unlearned.extend(task_ids)

    def memory_bytes(self) -> dict[str, int]:
        """The inner algorithm's, plus the unlearning `records` (shared tensors counted once)."""
        records = [
            t for record in self.recorder.records.values() for values in record.values() for t in values.values()
        ]
        return {**memory_bytes(self.inner), "records": storage_bytes(records)}

    def eval_logits(self, x: torch.Tensor, task_id: int, seen: int) -> torch.Tensor:
        return self.inner.eval_logits(x, task_id, seen)

    def eval_features(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        return protocol.eval_features(self.inner, x, task_id)

    def state_dict(self) -> dict[str, Any]:
        return {
            "records": self.recorder.state_dict(),
            "unlearned": list(self.unlearned),
            "costs": [dict(c) for c in self.costs],
            "inner": self.inner.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("records") is not None:
            self.recorder.load_state_dict(state["records"])
        self.unlearned = [int(u) for u in state.get("unlearned", [])]
        self.costs = [dict(c) for c in state.get("costs", [])]
        self.inner.load_state_dict(state.get("inner", {}))


# The first version's class names, kept for the Python API: each is the wrapper around one algorithm.


def AmnesiacFinetuning(model: ContinualModel, params: object = None) -> Amnesiac:  # noqa: N802
    """Finetuning with amnesiac unlearning: `Amnesiac(Finetuning(model))`."""
    return Amnesiac(Finetuning(model, params))


def AmnesiacLwF(model: ContinualModel, params: LwFParams | None = None) -> Amnesiac:  # noqa: N802
    """LwF with amnesiac unlearning (unlearning u also deletes u's teacher): `Amnesiac(LwF(model, params))`."""
    return Amnesiac(LwF(model, params))


def AmnesiacIndependent(model: ContinualModel, params: object = None) -> Amnesiac:  # noqa: N802
    """Independent training with amnesiac unlearning: `Amnesiac(Independent(model))`; unlearning u returns
    model u to its initial weights (bit for bit: only task u ever changed model u)."""
    return Amnesiac(Independent(model, params))
