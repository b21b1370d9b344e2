"""Loggers the task loop reports to: JSON lines in the run folder and a rich progress bar."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retain.runs.store import RunFolder
from retain.training.loop import LoopLogger


class JsonlLogger(LoopLogger):
    """Writes `metrics.jsonl`: one `epoch` record per epoch (losses, train accuracy) and one `eval`
    record per tested task after each task."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.folder.append_jsonl("metrics.jsonl", {"event": "epoch", "task": task_id, "epoch": epoch, **terms, "seconds": seconds})

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        for j, acc in enumerate(accuracies, start=1):
            self.folder.append_jsonl("metrics.jsonl", {"event": "eval", "after_task": after_task, "task": j, "accuracy": acc})


class ProgressLogger(LoopLogger):
    """A rich progress bar over all epochs of all tasks, showing the last epoch's loss."""

    def __init__(self, console: Console, num_tasks: int, epochs: int, label: str = "") -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar = self.progress.add_task(label or "training", total=num_tasks * epochs, info="")

    def __enter__(self) -> "ProgressLogger":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.progress.update(self.bar, advance=1, info=f"task {task_id} epoch {epoch} loss {terms.get('loss', 0):.4f}")

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        mean = sum(accuracies) / len(accuracies)
        self.progress.console.print(f"after task {after_task}: average accuracy {mean:.4f}")


class Loggers(LoopLogger):
    """Forwards every report to several loggers."""

    def __init__(self, *loggers: LoopLogger) -> None:
        self.loggers = loggers

    def on_task_start(self, task_id: int, epochs: int) -> None:
        for logger in self.loggers:
            logger.on_task_start(task_id, epochs)

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        for logger in self.loggers:
            logger.on_epoch(task_id, epoch, terms, seconds)

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        for logger in self.loggers:
            logger.on_evaluation(after_task, accuracies)
