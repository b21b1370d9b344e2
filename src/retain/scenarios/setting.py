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

# The scenario a construction is usually run in: split brings new classes per task, the others new domains.
CONSTRUCTION_SCENARIO = {"split": "til", "permuted": "dil", "rotated": "dil"}

# The upper bound `retain compare` runs next to the lower bound (finetuning): a separate model per task
# where the task id is given, otherwise one model trained jointly on every task so far.
UPPER_BOUND = {"til": "independent", "dil": "joint", "cil": "joint"}


def check_scenario(scenario: str) -> None:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario = {scenario!r} is not valid: expected one of {sorted(SCENARIOS)}")


def construction_scenario(construction: str) -> str:
    """The default scenario of a benchmark built by `construction` (`split`, `permuted` or `rotated`)."""
    return CONSTRUCTION_SCENARIO[construction]


def upper_bound(scenario: str) -> str:
    """The registered name of the algorithm that bounds `scenario` from above (see UPPER_BOUND)."""
    check_scenario(scenario)
    return UPPER_BOUND[scenario]


def head_is_shared(scenario: str) -> bool:
    """Whether every task is tested through the same output units (DIL's one head): a model that never
    learnt a task can then still be tested on it, e.g. the retrain reference on an unlearned task."""
    check_scenario(scenario)
    return SCENARIOS[scenario] is HeadDIL


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
