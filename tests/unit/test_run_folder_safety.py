"""Run folders: one writer (the lock), no write through a symbolic link, nothing half-written left behind."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from retain.experiment.run import run
from retain.runs.lock import LOCK_FILE, FolderLock, FolderLocked, held_by_other
from retain.runs.store import RunFolder, UnsafeRunFolder, atomic_write_bytes, remove_stale_temporaries

FAST = {"train": {"epochs": 1, "device": "cpu"}, "backbone": {"hidden": [8]}, "benchmark": {"num_tasks": 2}}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_lock_on_the_folder_fails_at_once_naming_the_holder(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(FolderLocked) as err:
            FolderLock(tmp_path)
    message = str(err.value)
    assert f"pid {os.getpid()}" in message and socket.gethostname() in message and str(tmp_path) in message
    assert not (tmp_path / LOCK_FILE).exists()  # released: the file goes with it
    FolderLock(tmp_path).release()  # and the folder can be locked again


def test_a_second_writer_racing_the_holder_still_names_it(tmp_path):
    # the holder has the flock but has not yet written its record: the loser waits for the record
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    record = json.dumps({"pid": 4242, "host": "racer", "since": 0}).encode()
    writer = threading.Timer(0.1, lambda: os.pwrite(fd, record, 0))
    writer.start()
    try:
        with pytest.raises(FolderLocked, match="pid 4242 on host 'racer'"):
            FolderLock(tmp_path)
    finally:
        writer.join()
        os.close(fd)


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_message(tmp_path, capsys):
    pid = dead_pid()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": 0}))
    lock = FolderLock(tmp_path)
    assert lock.took_over is not None and lock.took_over["pid"] == pid
    assert f"taking over the stale lock on {tmp_path}: pid {pid}" in capsys.readouterr().err
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()


def test_without_kernel_locks_the_record_of_a_live_holder_refuses(tmp_path, monkeypatch):
    import retain.runs.lock as lock_module

    monkeypatch.setattr(lock_module, "_flock", lambda fd: False)  # a filesystem where flock does not work
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "since": 0}))
    with pytest.raises(FolderLocked, match=f"pid {os.getppid()}"):
        FolderLock(tmp_path)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "another-host", "since": 0}))
    with pytest.raises(FolderLocked, match="another-host"):
        FolderLock(tmp_path)


def test_held_by_other_sees_a_live_lock_only(tmp_path):
    assert not held_by_other(tmp_path)
    with FolderLock(tmp_path):
        assert held_by_other(tmp_path)
    assert not held_by_other(tmp_path)


def test_a_run_folder_is_locked_while_open(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with pytest.raises(FolderLocked):
        FolderLock(folder.path)
    with pytest.raises(FolderLocked):
        RunFolder(tmp_path / "run")  # a second writer: refused as locked before anything else
    folder.release()
    assert sorted(p.name for p in folder.path.iterdir()) == ["plots"]


def test_a_run_folder_holding_a_link_is_refused(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.write_yaml("config.yaml", {"seed": 0})
    folder.release()
    outside = tmp_path / "outside.txt"
    outside.write_text("x" * 1000)
    (folder.path / "metrics.jsonl").symlink_to(outside)
    with pytest.raises(UnsafeRunFolder, match="metrics.jsonl is a symbolic link"):
        RunFolder.existing(folder.path)
    assert outside.read_text() == "x" * 1000
    assert not (folder.path / LOCK_FILE).exists()  # the refused open released its lock


def test_writes_never_follow_a_link_planted_while_the_folder_is_open(tmp_path):
    folder = RunFolder(tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "victim"
    target.write_text("keep")
    (folder.path / "metrics.jsonl").symlink_to(target)
    for write in (
        lambda: folder.append_jsonl("metrics.jsonl", {"a": 1}),
        lambda: folder.truncate_jsonl("metrics.jsonl", 0),
        lambda: folder.sync_jsonl("metrics.jsonl"),
    ):
        with pytest.raises(UnsafeRunFolder):
            write()
    (folder.path / "summary.json").symlink_to(target)
    folder.write_json("summary.json", {"b": 2})  # replaces the link itself
    assert not (folder.path / "summary.json").is_symlink() and target.read_text() == "keep"
    (folder.path / "plots").rmdir()
    (folder.path / "plots").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeRunFolder, match="plots is a symbolic link"):
        atomic_write_bytes(folder.path / "plots" / "matrix.png", b"png")
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    folder.release()


def test_a_dangling_link_as_out_is_one_clear_error(tmp_path):
    (tmp_path / "out").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeRunFolder, match="dangling symbolic link"):
        RunFolder(tmp_path / "out")


def test_files_follow_the_umask_and_stale_temporaries_are_removed(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
        folder = RunFolder(tmp_path / "run")
        folder.append_jsonl("metrics.jsonl", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    assert (folder.path / "metrics.jsonl").stat().st_mode & 0o777 == 0o640
    (folder.path / ".summary.json.abc123.tmp").write_text("half")
    (folder.path / "plots" / ".matrix.png.x.tmp").write_text("half")
    assert len(remove_stale_temporaries(folder.path)) == 2
    assert not any(p.name.endswith(".tmp") for p in folder.path.rglob("*"))
    folder.release()


def test_a_run_failing_before_its_first_checkpoint_leaves_no_folder(tmp_path):
    def fail(task: int, epoch: int, step: int) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run(FAST, out=tmp_path / "run", progress=False, step_hook=fail)
    assert not (tmp_path / "run").exists()
    run(FAST, out=tmp_path / "run", progress=False)  # the retry is not blocked
    assert (tmp_path / "run" / "summary.json").exists() and not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_run_failing_after_a_checkpoint_keeps_its_folder_to_resume(tmp_path):
    def fail(task: int, epoch: int, step: int) -> None:
        if task == 2:
            raise ValueError("boom")

    with pytest.raises(ValueError):
        run(FAST, out=tmp_path / "run", progress=False, step_hook=fail)
    assert (tmp_path / "run" / "checkpoints" / "task_01.pt").exists()
    assert len(run(resume=tmp_path / "run", progress=False).summary["accuracy_matrix"]) == 2
