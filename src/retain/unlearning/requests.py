"""Validation of unlearning requests (`unlearning.requests: {after_task: [tasks to unlearn]}`).

Every check runs when the configuration is read, before any training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from retain.errors import ConfigError

KEY = "unlearning.requests"


def check_requests(requests: Mapping[int, Sequence[int]], num_tasks: int | None, method: str) -> None:
    """Raise ConfigError for an unknown task id, a task unlearned before it was learnt or twice, or
    requests without an unlearning method. `num_tasks` None skips the upper bound (unknown until data loads)."""
    if not requests:
        return
    if method == "none":
        raise ConfigError(
            KEY, dict(requests), "unlearning.method is 'none': set unlearning.method: amnesiac to unlearn"
        )
    done: dict[int, int] = {}
    for after in sorted(requests):
        if after < 1 or (num_tasks is not None and after > num_tasks):
            raise ConfigError(
                f"{KEY}.{after}", list(requests[after]), f"task {after} does not exist (tasks 1..{num_tasks})"
            )
        for u in requests[after]:
            if u < 1 or (num_tasks is not None and u > num_tasks):
                raise ConfigError(
                    f"{KEY}.{after}", list(requests[after]), f"task {u} does not exist (tasks 1..{num_tasks})"
                )
            if u > after:
                raise ConfigError(
                    f"{KEY}.{after}", list(requests[after]), f"task {u} is not learnt yet after task {after}"
                )
            if u in done:
                raise ConfigError(
                    f"{KEY}.{after}", list(requests[after]), f"task {u} was already unlearned after task {done[u]}"
                )
            done[u] = after


def check_leaves_a_task(requests: Mapping[int, Sequence[int]], num_tasks: int) -> None:
    """Raise ConfigError when the requests unlearn every task: the retrain reference (the sequence without
    the unlearned tasks) would have none to train, so AG/DD cannot be judged."""
    gone = unlearned_tasks(requests)
    if requests and len(gone) >= num_tasks:
        raise ConfigError(
            KEY,
            {t: list(us) for t, us in requests.items()},
            f"unlearns all {num_tasks} tasks, so the retrain reference would have no task to train: leave at "
            f"least one task, or set unlearning.evaluate: false",
        )


def unlearned_tasks(requests: Mapping[int, Sequence[int]]) -> list[int]:
    """Every task some request unlearns, in increasing order."""
    return sorted({u for us in requests.values() for u in us})
