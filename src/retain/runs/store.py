"""The run folder: plain files written atomically (temporary name, fsync, rename).

A folder holds `config.yaml`, `env.json`, `metrics.jsonl`, `accuracy.csv`, `summary.json` and `plots/`.
A run never writes into an existing non-empty folder, holds the folder's lock while it writes, and
never follows a symbolic link inside it (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from retain.errors import RetainError
from retain.runs.lock import LOCK_FILE, FolderLock


class RunFolderExists(RetainError):
    """The chosen output folder already holds files."""


class UnsafeRunFolder(RetainError):
    """A run folder holds a symbolic link: retain never reads or writes through one."""


class ResourceFailure(RetainError):
    """The system refused a write or an allocation (disk full, permission, read-only, out of memory)."""


_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "unexpected pos", "PytorchStreamWriter", "bad_alloc")


def resource_failure(err: BaseException, folder: Path | None) -> ResourceFailure | None:
    """One line for an OS error or an out-of-memory met while a run wrote to `folder`: what failed and on
    which path, whether the last checkpoint is intact, and how to go on. None for any other error."""
    if isinstance(err, OSError):
        what = (err.strerror or type(err).__name__) + (f": {err.filename}" if err.filename else "")
    elif isinstance(err, MemoryError) or (isinstance(err, RuntimeError) and any(s in str(err) for s in _OUT_OF_MEMORY)):
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        what = f"out of memory ({first})"
    else:
        return None
    if folder is None:
        return ResourceFailure(what)
    if any((folder / "checkpoints").glob("*.pt")):
        return ResourceFailure(
            f"{what}; the last checkpoint in {folder / 'checkpoints'} is intact (every file is written whole or "
            f"not at all): free space or memory, or fix the permission, then resume with `retain run --resume {folder}`"
        )
    return ResourceFailure(
        f"{what}; no checkpoint had been written, so nothing of the run was kept: fix it and run again"
    )


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _open_dir(path: Path) -> int:
    """A descriptor of the directory `path`, refused if `path` itself is a symbolic link."""
    try:
        return os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
            raise UnsafeRunFolder(_link_message(path)) from None
        raise


def _link_message(path: Path) -> str:
    return (
        f"{path} is a symbolic link (to {os.readlink(path)!r}): retain never writes through a link in a run "
        f"folder; remove the link (or copy the run folder without links) and retry"
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader (or a crash) sees either the old file or the whole new one.

    The temporary file is created beside `path` with `O_EXCL | O_NOFOLLOW` inside a directory opened
    without following a link, then renamed over `path`: a link planted at `path` is replaced, never
    followed, and a linked parent folder is refused. Files get mode 0666 less the umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    dir_fd = _open_dir(path.parent)
    try:
        tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def find_link(root: Path) -> Path | None:
    """The first symbolic link inside the folder `root` (at any depth), or None."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            if os.path.islink(os.path.join(dirpath, name)):
                return Path(dirpath, name)
    return None


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Delete the temporary files (`.NAME.XXXX.tmp`) a killed writer left in `root`, `checkpoints/` and
    `plots/`; only the folder's lock holder may call this. Returns what was removed."""
    removed = []
    for folder in (root, root / "checkpoints", root / "plots"):
        if folder.is_dir() and not folder.is_symlink():
            for entry in folder.iterdir():
                if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
    return removed


def default_run_name(benchmark: str, scenario: str, algorithm: str, seed: int) -> str:
    return f"{benchmark}-{scenario}-{algorithm}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunFolder:
    """One run's folder, locked for this process (`retain.runs.lock`) until `release()`.

    Created on construction and refused if it already holds files; `RunFolder.existing(path)` opens
    the folder of an earlier run instead (the only way back in, used by `retain run --resume`). Either
    way a folder holding a symbolic link is refused, and temporary files a killed writer left are removed.
    """

    def __init__(self, path: str | Path, *, existing: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_symlink() and not self.path.exists():
            raise UnsafeRunFolder(f"out = '{self.path}' is a dangling symbolic link (to {os.readlink(self.path)!r}): "
                                  f"give a folder that exists or a new path")  # fmt: skip
        if existing and not (self.path / "config.yaml").is_file():
            raise RunFolderExists(f"'{self.path}' is not a retain run folder (no config.yaml in it)")
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderExists(f"out = '{self.path}' exists and is not a folder: choose another --out")
        self.created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock = FolderLock(self.path)
        except OSError as err:
            raise ResourceFailure(
                f"run folder {self.path} cannot be created or locked ({err.strerror or err})"
            ) from None
        try:
            if not existing and any(p.name != LOCK_FILE for p in self.path.iterdir()):
                raise RunFolderExists(
                    f"out = '{self.path}' already exists and is not empty: choose another --out, or continue "
                    f"that run with `retain run --resume {self.path}` (a run never overwrites an earlier one)"
                )
            link = find_link(self.path)
            if link is not None:
                raise UnsafeRunFolder(_link_message(link))
            remove_stale_temporaries(self.path)
            (self.path / "plots").mkdir(exist_ok=True)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Free the folder's lock (idempotent); the run's files stay."""
        self.lock.release()

    def discard(self) -> None:
        """Remove what this run wrote and free the lock: a new run that failed before its first
        checkpoint leaves no half-written folder (a folder it did not create is left empty)."""
        if self.lock.fd is None:
            return
        for entry in self.path.iterdir():
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        self.release()
        if self.created:
            with contextlib.suppress(OSError):
                self.path.rmdir()

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
        fd = os.open(self._file(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o666)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def sync_jsonl(self, name: str) -> int:
        """fsync the log `name` and return its size in bytes (a checkpoint records where the log stood)."""
        path = self._file(name)
        if not path.exists():
            return 0
        fd = os.open(path, os.O_RDWR | _NOFOLLOW)
        try:
            os.fsync(fd)
            return os.lseek(fd, 0, os.SEEK_END)
        finally:
            os.close(fd)

    def truncate_jsonl(self, name: str, size: int) -> None:
        """Cut the log `name` back to `size` bytes: records written after a checkpoint are dropped on resume."""
        path = self._file(name)
        if path.exists() and path.stat().st_size > size:
            fd = os.open(path, os.O_WRONLY | _NOFOLLOW)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)

    def _file(self, name: str) -> Path:
        """`self.path / name`, refused if it is a symbolic link (`O_NOFOLLOW` refuses it too, less clearly)."""
        path = self.path / name
        if path.is_symlink():
            raise UnsafeRunFolder(_link_message(path))
        return path


def set_aside(path: Path, label: str) -> Path:
    """Rename the unusable folder `path` to the first free `NAME.<label>-N` beside it and return the new
    path: an unfinished run is kept for inspection, never deleted."""
    n = 1
    while path.with_name(f"{path.name}.{label}-{n}").exists():
        n += 1
    aside = path.with_name(f"{path.name}.{label}-{n}")
    path.rename(aside)
    return aside
