"""The loop's two links to the world: what it reports (`LoopLogger`) and where its checkpoints and stop
requests go (`LoopSession`); a `Watch` is a logger whose findings the checkpoints keep. Both are no-ops here; `retain.runs` implements them with files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import torch

    from retain.algorithms.base import Algorithm
    from retain.scenarios.task import Task
    from retain.training.progress import SequenceResult, TaskProgress


class LoopLogger:
    """What the loop reports; subclasses override what they need (all calls are no-ops here)."""

    def on_task_start(self, task_id: int, epochs: int) -> None: ...

    def on_step(self, task_id: int, epoch: int, step: int, steps: int) -> None:
        """After step `step` (1-based) of the `steps` of this epoch (progress bars; keep it cheap)."""

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None: ...

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None: ...


class Watch(LoopLogger):
    """A loop logger with findings of its own (e.g. an attack's scores after each task) that every
    checkpoint keeps, so that a resumed run restores what it found before the interruption."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (from a checkpoint)."""


class LoopSession:
    """The loop's link to the world between steps: checkpoints and stop requests (no-ops here).

    `stop_signal` is set (by a signal handler) to ask the loop to stop after the current step; the
    loop then calls `interrupt`, which must save and raise. Reading an attribute costs no host sync.
    """

    stop_signal: int | None = None

    def before_step(self, task_id: int, epoch: int, step: int) -> None:
        """Called before every step (tests use it to kill the process at a chosen point)."""

    def after_epoch(
        self,
        task: Task,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress,
    ) -> None:
        """Called after each epoch but the last of a task (mid-task checkpoints)."""

    def after_task(self, task: Task, algorithm: Algorithm, result: SequenceResult, generator: torch.Generator) -> None:
        """Called after a task is trained and evaluated (the task checkpoint)."""

    def interrupt(
        self,
        task: Task,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress | None,
    ) -> NoReturn:
        """Stop the run on `stop_signal`; `progress` is None between tasks."""
        raise KeyboardInterrupt
