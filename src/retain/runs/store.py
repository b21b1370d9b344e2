"""The run folder: plain files written atomically (temporary name, fsync, rename).

A folder holds `config.yaml`, `env.json`, `metrics.jsonl`, `accuracy.csv`, `summary.json` and `plots/`.
A run never writes into an existing non-empty folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from retain.errors import RetainError


class RunFolderExists(RetainError):
    """The chosen output folder already holds files."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader (or a crash) sees either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def default_run_name(benchmark: str, scenario: str, algorithm: str, seed: int) -> str:
    return f"{benchmark}-{scenario}-{algorithm}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunFolder:
    """One run's folder; created on construction, refused if it already holds files.

    `RunFolder.existing(path)` opens the folder of an earlier run instead: the only way back in, used
    by `retain run --resume`.
    """

    def __init__(self, path: str | Path, *, existing: bool = False) -> None:
        self.path = Path(path)
        if existing:
            if not (self.path / "config.yaml").is_file():
                raise RunFolderExists(f"'{self.path}' is not a retain run folder (no config.yaml in it)")
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise RunFolderExists(
                f"out = '{self.path}' already exists and is not empty: choose another --out, or continue "
                f"that run with `retain run --resume {self.path}` (a run never overwrites an earlier one)"
            )
        (self.path / "plots").mkdir(parents=True, exist_ok=True)

    @classmethod
    def existing(cls, path: str | Path) -> RunFolder:
        """The folder of an earlier run (it must hold the run's `config.yaml`)."""
        return cls(path, existing=True)

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
        return path

    def write_yaml(self, name: str, data: Any) -> Path:
        path = self.path / name
        atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
        return path

    def write_accuracy_csv(self, matrix: Sequence[Sequence[float]]) -> Path:
        """`accuracy.csv`: one row per task trained, one column per task tested (blank above the diagonal)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        num = len(matrix)
        writer.writerow(["after_task"] + [f"task_{j + 1}" for j in range(num)])
        for t, row in enumerate(matrix):
            writer.writerow([t + 1] + [f"{v:.6f}" for v in row] + [""] * (num - len(row)))
        path = self.path / "accuracy.csv"
        atomic_write_text(path, buffer.getvalue())
        return path

    def append_jsonl(self, name: str, record: dict[str, Any]) -> None:
        """Append one JSON line and flush it (a log: a crash loses at most the line being written)."""
        with open(self.path / name, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def sync_jsonl(self, name: str) -> int:
        """fsync the log `name` and return its size in bytes (a checkpoint records where the log stood)."""
        path = self.path / name
        if not path.exists():
            return 0
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
            return fh.seek(0, os.SEEK_END)

    def truncate_jsonl(self, name: str, size: int) -> None:
        """Cut the log `name` back to `size` bytes: records written after a checkpoint are dropped on resume."""
        path = self.path / name
        if path.exists() and path.stat().st_size > size:
            os.truncate(path, size)


def set_aside(path: Path, label: str) -> Path:
    """Rename the unusable folder `path` to the first free `NAME.<label>-N` beside it and return the new
    path: an unfinished run is kept for inspection, never deleted."""
    n = 1
    while path.with_name(f"{path.name}.{label}-{n}").exists():
        n += 1
    aside = path.with_name(f"{path.name}.{label}-{n}")
    path.rename(aside)
    return aside
