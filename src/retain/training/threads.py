"""How many CPU threads torch uses (`train.threads: auto | N`), and why.

torch's default is one thread per physical core of the machine, whatever else runs on it. For the small
fully connected models of most continual-learning benchmarks, the work of one step is too small to
split: on a shared machine (a cluster node, a laptop doing other work) the extra threads wait on each
other and on the other jobs, and training runs several times slower than with one thread
(`docs/benchmarks.md`, "Threads"). `auto` therefore chooses:

1. `OMP_NUM_THREADS`, when it is set (the user, or a sweep dividing the cores among its workers);
2. the cores this process may use (its CPU affinity, capped by a cgroup CPU quota) that other work
   leaves idle, at least one. What is busy is sampled from `/proc/stat` over `SAMPLE_SECONDS` (the
   cores of this process's affinity); where that cannot be read, the 1-minute load average stands in,
   which lags: just after other work has stopped it still counts those cores as busy;
3. with one idle core, one thread. A convolutional or large model takes every idle core. A small fully
   connected one (no convolution, under `SMALL_MODEL_PARAMETERS` parameters) takes them only if that
   measures faster: forward and backward passes of a copy of its backbone on a random batch for
   `TRIAL_SECONDS`, one thread against the idle cores, interleaved, the fastest of `TRIAL_ROUNDS`; more
   threads must win by `TRIAL_MARGIN`. Whether splitting pays depends on the work per step (on an idle
   2-core machine, whole runs with two threads were 1.5x faster for a 784-256-256 MLP at batch 64 and
   1.02-1.07x slower for a 64-256-256 one), so it is measured rather than guessed. Without a batch shape
   to try (or off the CPU), one thread.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

SMALL_MODEL_PARAMETERS = 5_000_000
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 0.25
TRIAL_SECONDS = 0.025  # per timing: long enough to rise above the scheduler's noise
TRIAL_ROUNDS = 4
TRIAL_MARGIN = 0.9  # more threads must take under 90 % of one thread's time


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
    """The cores of this process's affinity that other work keeps busy now, sampled over `seconds`.

    This process's own CPU time in the sample is taken off: the thread pool of its last multi-threaded
    kernel may still be spinning (OpenMP workers wait busily for a while before they sleep)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    before = _read(stat)
    if not before:
        return None
    started, own = time.monotonic(), time.process_time()
    time.sleep(seconds)
    after = _read(stat)
    own_cores = (time.process_time() - own) / max(time.monotonic() - started, 1e-9)
    busy = busy_cores(before, after, set(os.sched_getaffinity(0)))
    return None if busy is None else max(0.0, busy - own_cores)


def is_small(model: nn.Module) -> bool:
    """Whether `model` is small (no convolution, under `SMALL_MODEL_PARAMETERS`): more threads than one
    must then measure faster to be chosen."""
    if any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        return False
    return sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS


def choose_threads(
    setting: int | str,
    model: nn.Module,
    environ: Mapping[str, str] | None = None,
    cores: int | None = None,
    load: float | None = None,
    input_shape: tuple[int, ...] | None = None,
    timer: Callable[[int], float] | None = None,
) -> ThreadChoice:
    """The thread count for `setting` (`auto` or N) and `model`; see the module docstring for `auto`.

    `environ`, `cores` and `load` (busy cores) default to this process's environment, `usable_cores()`
    and `sampled_busy_cores()` or, failing it, the 1-minute load average. `input_shape` is one training
    batch's shape, for the trial of a small model; `timer(threads)` (seconds of a trial) replaces the
    trial (these are arguments so that the choice can be tested).
    """
    if setting != "auto":
        return ThreadChoice(int(setting), str(setting), f"train.threads = {setting}")
    environ = os.environ if environ is None else environ
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), "auto", f"OMP_NUM_THREADS={omp}")
    cores = usable_cores() if cores is None else cores
    idle = idle_cores(cores, load)
    if not is_small(model):
        return ThreadChoice(idle, "auto", f"a convolutional or large model: {idle} of {cores} usable cores idle")
    if idle == 1:
        return ThreadChoice(1, "auto", f"a small fully connected model and 1 of {cores} usable cores idle")
    if timer is None and input_shape is not None:
        timer = backbone_trial(model, input_shape)
    if timer is None:
        return ThreadChoice(1, "auto", "a small fully connected model: one thread (no batch to measure)")
    seconds = {n: float("inf") for n in (1, idle)}
    for _ in range(TRIAL_ROUNDS):  # interleaved: a change of load hits both counts alike
        for n in seconds:
            seconds[n] = min(seconds[n], timer(n))
    threads = idle if seconds[idle] < TRIAL_MARGIN * seconds[1] else 1
    measured = ", ".join(f"{n} thread{'s' * (n > 1)} {1000 * t:.2f} ms per pass" for n, t in seconds.items())
    return ThreadChoice(
        threads, "auto", f"a small fully connected model, {idle} of {cores} cores idle; measured {measured}"
    )


def idle_cores(cores: int, load: float | None = None) -> int:
    """The cores of `cores` that `load` (busy cores; default: sampled, else the load average) leaves idle."""
    if load is None:
        load = sampled_busy_cores()
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, math.floor(cores - load + 0.5)))


def backbone_trial(model: nn.Module, input_shape: tuple[int, ...]) -> Callable[[int], float] | None:
    """`timer(threads)`: seconds per forward and backward pass of a copy of `model`'s backbone on a random
    batch of `input_shape` with that many threads, over at least `TRIAL_SECONDS`; None for a model it
    cannot try (no plain backbone, or not on the CPU). The model and the random number generators are
    not touched."""
    backbone = getattr(model, "backbone", model)
    if getattr(model, "task_conditioned", False) or any(p.device.type != "cpu" for p in backbone.parameters()):
        return None
    trial = copy.deepcopy(backbone).train()
    with torch.random.fork_rng(devices=[]):
        batch = torch.randn(input_shape)

    def timer(threads: int) -> float:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.random.fork_rng(devices=[]):  # dropout draws: the run's stream stays as it was
                trial(batch).sum().backward()  # untimed: a new thread count may start its pool
                steps, started = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - started) < TRIAL_SECONDS:
                    trial(batch).sum().backward()
                    steps += 1
                return elapsed / steps
        finally:
            torch.set_num_threads(previous)
            trial.zero_grad(set_to_none=True)

    return timer


@contextlib.contextmanager
def using_threads(choice: ThreadChoice) -> Iterator[None]:
    """Make torch use `choice.threads` CPU threads in the body, and restore the count it had after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(choice.threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
