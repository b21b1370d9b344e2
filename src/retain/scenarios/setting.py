"""The one place where the three scenarios differ (van de Ven & Tolias, 2019).

- `til` task-incremental: one head per task, labels 0..k-1 within each task, the task id is given at test time.
- `dil` domain-incremental: one shared head, the same labels 0..k-1 in every task, no task id at test time.
- `cil` class-incremental: one growing head, labels are global class indices in order of arrival, no
  task id at test time (argmax over every class seen so far).
"""

from __future__ import annotations

import torch

from retain.models.heads import HeadDIL, Heads, HeadsCIL, HeadsTIL

SCENARIOS: dict[str, type[Heads]] = {"til": HeadsTIL, "dil": HeadDIL, "cil": HeadsCIL}


def check_scenario(scenario: str) -> None:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario = {scenario!r} is not valid: expected one of {sorted(SCENARIOS)}")


def task_labels(scenario: str, local: torch.Tensor, offset: int) -> torch.Tensor:
    """Labels as the scenario's head sees them: `local` (0..k-1 within the task) or `offset + local` in CIL.

    `offset` is the number of classes that arrived in earlier tasks.
    """
    check_scenario(scenario)
    return local + offset if scenario == "cil" else local


def reoffset_labels(scenario: str, labels: torch.Tensor, old_offset: int, new_offset: int) -> torch.Tensor:
    """Labels of a task whose earlier tasks now hold `new_offset` classes instead of `old_offset`
    (used when tasks are removed): only CIL labels depend on the earlier tasks."""
    check_scenario(scenario)
    return labels - old_offset + new_offset if scenario == "cil" else labels


def make_heads(scenario: str, input_dim: int) -> Heads:
    """The heads container of the scenario, for features of size `input_dim`."""
    check_scenario(scenario)
    return SCENARIOS[scenario](input_dim)
