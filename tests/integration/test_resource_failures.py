"""Disk full, permission denied, read-only filesystem and out-of-memory during a run: one line naming the
path or the resource, saying whether the checkpoint is intact and how to resume."""

from __future__ import annotations

import errno
import os

import pytest

import retain.runs.checkpoint as checkpoint_module
from retain.cli import main
from retain.runs.store import ResourceFailure

FAST = ["--set", "train.epochs=1", "--set", "backbone.hidden=[8]", "--set", "benchmark.num_tasks=5", "--quiet"]
FAILURES = {
    "disk full": OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "RUN/checkpoints/task_02.pt"),
    "permission": PermissionError(errno.EACCES, os.strerror(errno.EACCES), "RUN/checkpoints/task_02.pt"),
    "read-only": OSError(errno.EROFS, os.strerror(errno.EROFS), "RUN/checkpoints/task_02.pt"),
    "memory": MemoryError(),
    "torch writer": RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 1234 vs 1200"),
}


def fail_on_write(monkeypatch, number: int, error: BaseException) -> None:
    """The checkpoint writer fails on its `number`-th write with `error`."""
    original, calls = checkpoint_module.atomic_write_bytes, []

    def write(path, data):
        calls.append(path)
        if len(calls) == number:
            raise error
        original(path, data)

    monkeypatch.setattr(checkpoint_module, "atomic_write_bytes", write)


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_a_resource_failure_after_a_checkpoint_is_one_line_saying_it_is_intact(tmp_path, capsys, monkeypatch, kind):
    out = tmp_path / "run"
    fail_on_write(monkeypatch, 2, FAILURES[kind])
    assert main(["run", *FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"the last checkpoint in {out / 'checkpoints'} is intact" in err and f"retain run --resume {out}" in err
    assert ("out of memory" in err) == (kind in ("memory", "torch writer"))
    monkeypatch.undo()
    assert main(["run", "--resume", str(out), "--quiet"]) == 0  # and the resume works


def test_a_resource_failure_before_any_checkpoint_removes_the_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    fail_on_write(monkeypatch, 1, FAILURES["disk full"])
    assert main(["run", *FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "no checkpoint had been written" in err
    assert not out.exists()


def test_an_out_folder_that_cannot_be_created_is_one_error(tmp_path, monkeypatch):
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    from retain.runs.store import RunFolder

    with pytest.raises(ResourceFailure, match="cannot be created or locked"):
        RunFolder(tmp_path / "new")
