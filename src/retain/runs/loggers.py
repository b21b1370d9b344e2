"""Loggers the task loop reports to: JSON lines in the run folder and a rich progress bar."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

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
    """Progress on a terminal: a bar for the whole run (epochs of all tasks, with its ETA) and one for the
    task in progress (its steps, with its ETA), updated at every step, showing the last epoch's loss.

    When the console is not a terminal (a SLURM log, a pipe) there are no bars: one line per finished
    task (its time, the average accuracy, the time left for the run).
    """

    def __init__(self, console: Console, num_tasks: int, epochs: int, label: str = "") -> None:
        self.console = console
        self.live = console.is_terminal
        self.num_tasks, self.epochs = num_tasks, epochs
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=True,
        )
        self.run_bar = self.progress.add_task(label or "training", total=num_tasks * epochs, info="")
        self.task_bar = self.progress.add_task("task", total=1, info="", visible=False)
        self.epochs_before = 0.0  # epochs of the run done before the current one (for the run bar)
        self.loss = ""
        self.started = time.perf_counter()
        self.task_started = self.started
        self.skipped = 0

    def __enter__(self) -> ProgressLogger:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def skip(self, epochs: int) -> None:
        """Mark `epochs` as done already (a resumed run); the ETA counts only what this process trains."""
        self.skipped = epochs
        self.epochs_before = float(epochs)
        self.progress.update(self.run_bar, completed=epochs)

    def on_task_start(self, task_id: int, epochs: int) -> None:
        self.task_started = time.perf_counter()
        self.progress.reset(self.task_bar, total=epochs, visible=True, info="")
        self.progress.update(self.task_bar, description=f"task {task_id}/{self.num_tasks}")

    def on_step(self, task_id: int, epoch: int, step: int, steps: int) -> None:
        done = epoch - 1 + step / steps
        info = f"epoch {epoch}/{self.epochs} step {step}/{steps}{self.loss}"
        self.progress.update(self.task_bar, completed=done, info=info)
        self.progress.update(self.run_bar, completed=self.epochs_before + done)

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.loss = f" loss {terms.get('loss', 0):.4f}"
        self.progress.update(self.task_bar, completed=epoch)
        self.progress.update(self.run_bar, completed=self.epochs_before + epoch)

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        self.epochs_before = float(after_task * self.epochs)
        self.progress.update(self.run_bar, completed=self.epochs_before)
        mean = sum(accuracies) / len(accuracies)
        line = f"after task {after_task}/{self.num_tasks}: average accuracy {mean:.4f}"
        if not self.live:
            now = time.perf_counter()
            done = self.epochs_before - self.skipped
            left = (now - self.started) / done * (self.num_tasks * self.epochs - self.epochs_before) if done else 0.0
            line += f"{self.loss}, task {now - self.task_started:.1f} s, run ETA {clock(left)}"
        self.console.print(line)


def clock(seconds: float) -> str:
    """`h:mm:ss` for a duration in seconds."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


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

    def on_step(self, task_id: int, epoch: int, step: int, steps: int) -> None:
        for logger in self.loggers:
            logger.on_step(task_id, epoch, step, steps)

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        for logger in self.loggers:
            logger.on_epoch(task_id, epoch, terms, seconds)

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        for logger in self.loggers:
            logger.on_evaluation(after_task, accuracies)
