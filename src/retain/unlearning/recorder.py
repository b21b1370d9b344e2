"""The update record of amnesiac unlearning: what each task changed in the parameters, and its removal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn


class UpdateRecorder:
    """Records the update Δθ_t = θ_end − θ_start of every parameter for each task, and deletes updates.

    Heads created for task t exist (with their initial values) when t starts, so their whole training
    counts as task t's update. Buffers (e.g. BatchNorm running statistics) are not parameters and are
    not recorded or reverted.

    Deletion applies θ ← θ − Δθ_u, with one exactness rule: where a parameter still holds
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
            if previous is not None and previous.shape == p.shape and torch.equal(previous, p.detach()):
                self._start[name] = previous
            else:
                self._start[name] = p.detach().clone()

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
