"""Subprocesses for the chaos tier: `retain` started as a user would, and the results compared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
TIMING = ("train_seconds_per_task", "total_seconds")


def start(*args: str, kill_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    env.pop("RETAIN_TEST_KILL_AT", None)
    if kill_at:
        env["RETAIN_TEST_KILL_AT"] = kill_at
    return subprocess.Popen(
        [sys.executable, "-m", "retain", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def results(folder: Path) -> tuple[dict, str, list[dict]]:
    """What must be identical between two runs of one config: summary and log without wall-clock fields."""
    summary = json.loads((folder / "summary.json").read_text())
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return (
        {k: v for k, v in summary.items() if k not in TIMING},
        (folder / "accuracy.csv").read_text(),
        [{k: v for k, v in r.items() if k != "seconds"} for r in records],
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes (to prove nothing outside a run folder was written)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"
