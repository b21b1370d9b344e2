"""Loggers the task loop reports to: JSON lines in the run folder and a rich progress bar."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retain.errors import ConfigError
from retain.runs.store import RunFolder
from retain.training.loop import LoopLogger


class JsonlLogger(LoopLogger):
    """Writes `metrics.jsonl`: one `epoch` record per epoch (losses, train accuracy) and one `eval`
    record per tested task after each task."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.folder.append_jsonl(
            "metrics.jsonl", {"event": "epoch", "task": task_id, "epoch": epoch, **terms, "seconds": seconds}
        )

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        for j, acc in enumerate(accuracies, start=1):
            self.folder.append_jsonl(
                "metrics.jsonl", {"event": "eval", "after_task": after_task, "task": j, "accuracy": acc}
            )


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

    def __enter__(self) -> ProgressLogger:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def skip(self, epochs: int) -> None:
        """Mark `epochs` as done already (a resumed run)."""
        self.progress.update(self.bar, completed=epochs)

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.progress.update(self.bar, advance=1, info=f"task {task_id} epoch {epoch} loss {terms.get('loss', 0):.4f}")

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        mean = sum(accuracies) / len(accuracies)
        self.progress.console.print(f"after task {after_task}: average accuracy {mean:.4f}")


class TensorBoardLogger(LoopLogger):
    """Writes TensorBoard event files: per-epoch loss terms, per-task test accuracies and the accuracy
    matrix as an image after each task (`logging.tensorboard: true`).

    Scalars: `train/<term>` against the epoch count over all tasks, `test/task_<j>` and
    `test/average_accuracy` against the task just trained. Image: `accuracy_matrix`.
    """

    def __init__(self, folder: Path) -> None:
        self.writer = tensorboard_writer(folder)
        self.epochs_done = 0
        self.matrix: list[list[float]] = []

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.epochs_done += 1
        for name, value in terms.items():
            self.writer.add_scalar(f"train/{name}", value, self.epochs_done)
        self.writer.add_scalar("train/task", task_id, self.epochs_done)

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        for j, acc in enumerate(accuracies, start=1):
            self.writer.add_scalar(f"test/task_{j}", acc, after_task)
        self.writer.add_scalar("test/average_accuracy", sum(accuracies) / len(accuracies), after_task)
        self.matrix.append(list(accuracies))
        self.writer.add_image("accuracy_matrix", _matrix_image(self.matrix), after_task, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def require_tensorboard() -> type:
    """torch's SummaryWriter class, or a clear error when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "logging.tensorboard", True, "needs the tensorboard package (pip install tensorboard), or set it to false"
        ) from None
    return SummaryWriter


def tensorboard_writer(folder: Path):  # -> torch.utils.tensorboard.SummaryWriter
    """A SummaryWriter writing event files into `folder`."""
    return require_tensorboard()(log_dir=str(folder))


def _matrix_image(matrix: list[list[float]]):  # -> numpy array (H, W, 3), uint8
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from retain.runs.figures import accuracy_matrix_figure

    fig = accuracy_matrix_figure(matrix, f"after task {len(matrix)}")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


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
