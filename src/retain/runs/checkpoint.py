"""Checkpoints: plain tensors and data in `RUN/checkpoints/`, written atomically, read with
`torch.load(weights_only=True)` so that a file can never run code.

- `task_XX.pt` (1-based, two digits or more) after task XX is trained and evaluated;
- `progress.pt` inside a task: every `checkpoint.every_epochs` epochs, and when a signal stops the run.

See docs/reliability.md for the format.
"""

from __future__ import annotations

import io
import pickle
import random
import re
import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from retain.algorithms.base import Algorithm
from retain.errors import CheckpointError, RunInterrupted
from retain.runs.checkpoint_format import FORMAT, VERSION, config_hash, validate
from retain.runs.store import RunFolder, atomic_write_bytes
from retain.scenarios.task import Task
from retain.training.loop import LoopSession, SequenceResult, TaskProgress
from retain.training.session import Watch

PROGRESS_FILE = "progress.pt"
TASK_FILE = re.compile(r"task_(\d+)\.pt")
SIGNAL_NAMES = {2: "SIGINT", 15: "SIGTERM"}


def task_file(task_id: int) -> str:
    return f"task_{task_id:02d}.pt"


def capture_rng(generator: torch.Generator) -> dict[str, Any]:
    """Every random state a run may draw from: python, numpy, torch CPU and CUDA, the shuffling generator."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            **np_state,
            "state": {
                "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                "pos": np_state["state"]["pos"],
            },
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
    }


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    """Set every random state saved by `capture_rng` (CUDA only where the same devices exist)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = dict(state["numpy"])
    np_state["state"] = {
        "key": state["numpy"]["state"]["key"].numpy().astype(np.uint32),
        "pos": state["numpy"]["state"]["pos"],
    }
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Serialise `payload` in memory, then write it atomically (a crash leaves the old file or the new)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely: tensors and plain data only, never arbitrary unpickling.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, needs code to unpickle, or is not
            a retain checkpoint of a known version.
    """
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; the error below says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except PermissionError as err:
        raise CheckpointError(f"checkpoint {path} cannot be read ({err.strerror})") from None
    except pickle.UnpicklingError as err:
        lines = str(err).strip().splitlines()
        detail = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), lines[0] if lines else "")
        why = (
            "it is not plain tensors and data: loading it would need arbitrary unpickling, which could run code"
            if "GLOBAL" in detail
            else "it is corrupt or not plain tensors and data"
        )
        raise CheckpointError(f"checkpoint {path} refused: {why} ({detail.strip()})") from None
    except Exception as err:  # torch raises RuntimeError, EOFError, ValueError... for a damaged file
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    validate(path, payload)
    return payload


def has_checkpoint(run_folder: Path) -> bool:
    """Whether the run folder holds a checkpoint to resume from (a finished task's, or a mid-task one)."""
    checkpoints = run_folder / "checkpoints"
    return bool(task_checkpoints(checkpoints)) or (checkpoints / PROGRESS_FILE).is_file()


def task_checkpoints(folder: Path) -> dict[int, Path]:
    """The task checkpoints in `folder`, by task id."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = TASK_FILE.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


class CheckpointSession(LoopSession):
    """Writes a run's checkpoints from the task loop and turns a stop request into a resumable exit.

    Args:
        folder: the run folder (`checkpoints/` is created in it).
        config: the run's resolved config as plain data (stored in every checkpoint with its hash).
        every_epochs: mid-task checkpoints every N epochs (0: none).
        keep: `all` task checkpoints, only the `last`, or `reachable`: the last and those in `keep_ids`.
        keep_ids: with `keep: reachable`, the task ids whose checkpoints stay (an unlearning request
            will restore them).
        elapsed: seconds the run took before this session (a resumed run adds up its sessions).
        step_hook: called before every step with (task id, epoch, step); for tests.
        watch: a logger whose findings every checkpoint keeps (`watch` entry), restored on resume.
    """

    def __init__(
        self,
        folder: RunFolder,
        config: dict[str, Any],
        every_epochs: int = 0,
        keep: str = "all",
        elapsed: float = 0.0,
        step_hook: Callable[[int, int, int], None] | None = None,
        watch: Watch | None = None,
        keep_ids: Collection[int] = (),
    ) -> None:
        self.folder = folder
        self.dir = folder.path / "checkpoints"
        self.config = config
        self.hash = config_hash(config)
        self.every_epochs = every_epochs
        self.keep = keep
        self.keep_ids = frozenset(keep_ids)
        self.step_hook = step_hook
        self.watch = watch
        self._started = time.perf_counter() - elapsed
        self.stop_signal: int | None = None

    def elapsed(self) -> float:
        """Wall-clock seconds of the run so far, earlier sessions included."""
        return time.perf_counter() - self._started

    def before_step(self, task_id: int, epoch: int, step: int) -> None:
        if self.step_hook is not None:
            self.step_hook(task_id, epoch, step)

    def _payload(
        self,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress | None,
        task_id: int,
    ) -> dict[str, Any]:
        rng = capture_rng(generator)
        if progress is not None:
            rng["generator"] = progress.generator_state  # replays the interrupted epoch's order
        return {
            "format": FORMAT,
            "version": VERSION,
            "tasks_done": len(result.accuracy_matrix),
            "config": self.config,
            "config_hash": self.hash,
            "model": algorithm.model.state_dict(),
            "algorithm": algorithm.state_dict(),
            "accuracy_matrix": [list(row) for row in result.accuracy_matrix],
            "train_seconds_per_task": list(result.train_seconds_per_task),
            "skipped_batches_per_task": list(result.skipped_batches_per_task),
            "rng": rng,
            "metrics_bytes": self.folder.sync_jsonl("metrics.jsonl"),
            "elapsed_seconds": self.elapsed(),
            "watch": self.watch.state_dict() if self.watch is not None else {},
            "progress": None
            if progress is None
            else {
                "task": task_id,
                "epoch": progress.epoch,
                "step": progress.step,
                "optimizer": progress.optimizer,
                "sums": progress.sums,
                "counted": progress.counted,
                "skipped": progress.skipped,
                "skipped_before": progress.skipped_before,
                "seconds": progress.seconds,
            },
        }

    def after_epoch(
        self,
        task: Task,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress,
    ) -> None:
        if self.every_epochs and progress.epoch % self.every_epochs == 0:
            save_checkpoint(self.dir / PROGRESS_FILE, self._payload(algorithm, result, generator, progress, task.id))

    def after_task(self, task: Task, algorithm: Algorithm, result: SequenceResult, generator: torch.Generator) -> None:
        save_checkpoint(self.dir / task_file(task.id), self._payload(algorithm, result, generator, None, task.id))
        # Only now is the mid-task file stale; a crash before this line leaves it, and resume ignores it.
        (self.dir / PROGRESS_FILE).unlink(missing_ok=True)
        if self.keep in ("last", "reachable"):
            stay = {task.id} | (self.keep_ids if self.keep == "reachable" else set())
            for task_id, path in task_checkpoints(self.dir).items():
                if task_id not in stay:
                    path.unlink(missing_ok=True)

    def interrupt(
        self,
        task: Task,
        algorithm: Algorithm,
        result: SequenceResult,
        generator: torch.Generator,
        progress: TaskProgress | None,
    ) -> NoReturn:
        signum = self.stop_signal or 2
        if progress is None:
            where, path = f"after task {task.id}", self.dir / task_file(task.id)  # written by after_task
        else:
            path = self.dir / PROGRESS_FILE
            save_checkpoint(path, self._payload(algorithm, result, generator, progress, task.id))
            where = f"during task {task.id} (epoch {progress.epoch + 1}, after {progress.step} steps)"
        raise RunInterrupted(
            f"stopped by {SIGNAL_NAMES.get(signum, f'signal {signum}')} {where}; checkpoint written to {path}. "
            f"Resume with: retain run --resume {self.folder.path}",
            signum,
        )
