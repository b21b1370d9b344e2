"""One writer per folder: an exclusive lock held on `FOLDER/.retain.lock` for a whole run, resume,
unlearn or sweep.

The lock is an `flock` on the lock file, which also records the holder (`pid`, `host`, start time) so
that a second writer can be told who holds it. The kernel drops an `flock` when its holder dies, so a
lock left by a killed process is free again at once; its record is then stale, and the new holder says
that it takes it over. On a filesystem without working locks (`ENOLCK`, `EOPNOTSUPP`: NFSv3 without
`lockd`, some FUSE mounts) the record alone decides: a live holder on this host, or any holder on another
host, is refused; a dead pid on this host is taken over. See docs/reliability.md for what this
guarantees on shared storage.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from retain.errors import RetainError

LOCK_FILE = ".retain.lock"
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}

try:  # POSIX; elsewhere only the record is used
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class FolderLocked(RetainError):
    """Another process is writing into the folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _describe(holder: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid')} on host {holder.get('host')!r} (since {since})"


class FolderLock:
    """An exclusive lock on `folder` (created if missing); `release()` (or leaving a `with`) frees it.

    Raises `FolderLocked` at once, naming the folder and the holder's pid and host, if another process
    holds it: a second writer never waits and never writes.
    """

    def __init__(self, folder: str | Path, *, what: str = "run folder") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.fd: int | None = None
        self.took_over: dict[str, Any] | None = None
        self._acquire(what)

    def _acquire(self, what: str) -> None:
        for _ in range(5):  # the file can be replaced between open and flock: retry on the new one
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                locked = _flock(fd)
                holder = _read(fd)
                if locked is None:
                    raise FolderLocked(self._busy(what, holder or _await_record(fd)))
                if not locked and holder and (holder.get("host") != socket.gethostname() or _alive(holder["pid"])):
                    raise FolderLocked(self._busy(what, holder))
                if os.fstat(fd).st_ino != os.stat(self.path, follow_symlinks=False).st_ino:
                    os.close(fd)
                    continue
            except FileNotFoundError:  # removed by the holder releasing it: try again
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if holder and holder.get("pid") != os.getpid():
                self.took_over = holder
                print(f"retain: taking over the stale lock on {self.folder}: {_describe(holder)} is no longer running",
                      file=sys.stderr)  # fmt: skip
            self.fd = fd
            _write(fd, {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
            return
        raise FolderLocked(f"{what} {self.folder}: its lock file {self.path} keeps changing; is another process busy?")

    def _busy(self, what: str, holder: dict[str, Any] | None) -> str:
        who = _describe(holder) if holder else "another process"
        return (
            f"{what} {self.folder} is in use by {who} (lock {self.path}): one writer per folder; wait for it to "
            f"finish or stop it, then retry"
        )

    def release(self) -> None:
        """Free the lock and remove its file (idempotent)."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # before unlocking: a waiter re-checks the inode
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _flock(fd: int) -> bool | None:
    """True: the kernel granted the lock; None: another process holds it; False: locks do not work
    here (the record decides)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    except OSError as err:
        if err.errno in _NO_LOCKS:
            return False
        raise
    return True


def _read(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 4096, 0)
        record = json.loads(data.decode()) if data.strip() else None
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _await_record(fd: int, seconds: float = 0.5) -> dict[str, Any] | None:
    """The holder's record, waiting briefly for it: a holder writes it just after taking the lock, so a
    second writer racing it can find the lock taken and the file still empty."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
        record = _read(fd)
        if record is not None:
            return record
    return None


def _write(fd: int, record: dict[str, Any]) -> None:
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def held_by_other(folder: Path) -> bool:
    """Whether another live process holds `folder`'s lock (for a sweep deciding whether a point folder
    may be moved aside). Takes and frees the lock when it is free."""
    if not (folder / LOCK_FILE).exists():
        return False
    try:
        FolderLock(folder).release()
    except FolderLocked:
        return True
    return False
