"""How many CPU threads torch uses (`train.threads: auto | N`), and why.

torch's default is one thread per physical core of the machine, whatever else runs on it. For the small
fully connected models of most continual-learning benchmarks, the work of one step is too small to
split: on a shared machine (a cluster node, a laptop doing other work) the extra threads wait on each
other and on the other jobs, and training runs several times slower than with one thread
(`docs/benchmarks.md`, "Threads"). `auto` therefore chooses:

1. `OMP_NUM_THREADS`, when it is set (the user, or a sweep dividing the cores among its workers);
2. one thread for a model without convolutions and under `SMALL_MODEL_PARAMETERS` parameters;
3. otherwise the cores this process may use (its CPU affinity, capped by a cgroup CPU quota) that other
   work leaves idle, at least one. What is busy is sampled from `/proc/stat` over `SAMPLE_SECONDS`
   (the cores of this process's affinity); where that cannot be read, the 1-minute load average stands
   in, which lags: just after other work has stopped it still counts those cores as busy.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

SMALL_MODEL_PARAMETERS = 5_000_000
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 0.25


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count chosen, the setting it came from (`auto` or N) and the reason, in words."""

    threads: int
    setting: str
    reason: str


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in cores (`cpu.max` in v2, `cfs_quota_us` in v1), or None."""
    candidates: list[tuple[Path, Path | None]] = [(root / "cpu.max", None)]
    for line in _read(Path("/proc/self/cgroup")).splitlines():  # v2: "0::/path/of/the/group"
        if line.startswith("0::"):
            candidates.insert(0, (root / line[3:].lstrip("/") / "cpu.max", None))
    for folder in ("cpu", "cpu,cpuacct"):
        candidates.append((root / folder / "cpu.cfs_quota_us", root / folder / "cpu.cfs_period_us"))
    for quota_file, period_file in candidates:
        text = _read(quota_file).split()
        if period_file is not None:
            text += _read(period_file).split()
        if len(text) == 2 and text[0] not in ("max", "-1"):
            try:
                quota, period = int(text[0]), int(text[1])
            except ValueError:
                continue
            if quota > 0 and period > 0:
                return quota / period
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def usable_cores(root: Path = CGROUP_ROOT) -> int:
    """The cores this process may run on: its affinity mask, capped by a cgroup quota (rounded up)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def cpu_times(text: str) -> dict[int, tuple[int, int]]:
    """Per core, (busy, total) jiffies from the text of `/proc/stat` (idle and iowait count as idle)."""
    times: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and len(fields) >= 4):
            continue
        values = [int(v) for v in fields[:8]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times


def busy_cores(before: str, after: str, cpus: set[int]) -> float | None:
    """How many of `cpus` were busy between two readings of `/proc/stat`, or None if it says nothing."""
    first, second = cpu_times(before), cpu_times(after)
    busy = 0.0
    seen = False
    for cpu in cpus:
        if cpu in first and cpu in second:
            elapsed = second[cpu][1] - first[cpu][1]
            if elapsed > 0:
                busy += (second[cpu][0] - first[cpu][0]) / elapsed
                seen = True
    return busy if seen else None


def sampled_busy_cores(seconds: float = SAMPLE_SECONDS, stat: Path = PROC_STAT) -> float | None:
    """The cores of this process's affinity that other work keeps busy now, sampled over `seconds`."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    before = _read(stat)
    if not before:
        return None
    time.sleep(seconds)
    return busy_cores(before, _read(stat), set(os.sched_getaffinity(0)))


def is_small(model: nn.Module) -> bool:
    """Whether one thread is fastest for `model`: no convolution and under `SMALL_MODEL_PARAMETERS`."""
    if any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        return False
    return sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS


def choose_threads(
    setting: int | str,
    model: nn.Module,
    environ: Mapping[str, str] | None = None,
    cores: int | None = None,
    load: float | None = None,
) -> ThreadChoice:
    """The thread count for `setting` (`auto` or N) and `model`; see the module docstring for `auto`.

    `environ`, `cores` and `load` (busy cores) default to this process's environment, `usable_cores()`
    and `sampled_busy_cores()` or, failing it, the 1-minute load average (they are arguments so that the
    choice can be tested).
    """
    if setting != "auto":
        return ThreadChoice(int(setting), str(setting), f"train.threads = {setting}")
    environ = os.environ if environ is None else environ
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), "auto", f"OMP_NUM_THREADS={omp}")
    if is_small(model):
        return ThreadChoice(1, "auto", "a small fully connected model: one thread is fastest")
    cores = usable_cores() if cores is None else cores
    if load is None:
        load = sampled_busy_cores()
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    idle = max(1, min(cores, math.floor(cores - load + 0.5)))
    return ThreadChoice(idle, "auto", f"a convolutional or large model: {idle} of {cores} usable cores idle")


@contextlib.contextmanager
def using_threads(choice: ThreadChoice) -> Iterator[None]:
    """Make torch use `choice.threads` CPU threads in the body, and restore the count it had after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(choice.threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
