"""What an unlearning method may ask of the algorithm it wraps: an optional protocol, with defaults.

An algorithm needs none of these methods to be unlearnable; it implements one only where the default
is wrong for it:

- `unlearning_target(task_id) -> nn.Module`: the module whose parameters task `task_id` changed
  (default: the algorithm's model; Independent: the model of that task);
- `forget(task_ids)`: drop what the algorithm keeps of those tasks besides the weights (LwF: their
  teachers; Joint: their training data, so later tasks do not learn them again); default: nothing;
- `reopen_task(task_id)`: undo what `on_task_end` stored for `task_id`, the last finished task, so that
  `on_task_end` can run again (`retain unlearn` redoes the end of the last task after unlearning, as an
  in-run request would). Default: nothing to undo when `on_task_end` is the base class's; an algorithm
  that overrides `on_task_end` without `reopen_task` is refused rather than run it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from torch import nn

from retain.algorithms.base import Algorithm

if TYPE_CHECKING:
    import torch


@runtime_checkable
class Unlearnable(Protocol):
    """The full optional protocol (for type checkers and documentation; each method is optional)."""

    def unlearning_target(self, task_id: int) -> nn.Module: ...

    def forget(self, task_ids: Sequence[int]) -> None: ...

    def reopen_task(self, task_id: int) -> None: ...


def unlearning_target(algorithm: Algorithm, task_id: int) -> nn.Module:
    """The module from which task `task_id`'s update is removed."""
    own = getattr(algorithm, "unlearning_target", None)
    return algorithm.model if own is None else own(task_id)


def forget(algorithm: Algorithm, task_ids: Sequence[int]) -> None:
    """Let `algorithm` drop what it keeps of `task_ids` besides the weights."""
    own = getattr(algorithm, "forget", None)
    if own is not None:
        own(task_ids)


def reopen_task(algorithm: Algorithm, task_id: int) -> None:
    """Undo `algorithm`'s end-of-task step for `task_id` (see the module docstring)."""
    own = getattr(algorithm, "reopen_task", None)
    if own is not None:
        own(task_id)
    elif type(algorithm).on_task_end is not Algorithm.on_task_end:
        raise NotImplementedError(
            f"{type(algorithm).__name__} overrides on_task_end but not reopen_task: unlearning a finished run "
            "needs to undo the end of its last task"
        )


def eval_features(algorithm: Algorithm, x: torch.Tensor, task_id: int) -> torch.Tensor:
    """Backbone outputs used to compare models on task `task_id` (the distribution distance DD)."""
    own = getattr(algorithm, "eval_features", None)
    return algorithm.model.features(x, task_id) if own is None else own(x, task_id)
