"""Launchers run a sweep's pending points: `local` (this machine) and `submitit` (SLURM, optional).

A launcher is a function `(root, points, jobs, record)`; it runs each point into `root / point.name`
and calls `record(name, error message or None)` as each one ends. A failing point never stops the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from retain.errors import RetainError, RunInterrupted
from retain.experiment.point import SweepPoint, default_threads, run_point

Record = Callable[[str, str | None], None]


def _message(err: BaseException) -> str:
    return f"{err}" if isinstance(err, RetainError) else f"{type(err).__name__}: {err}"


def launch_local(root: Path, points: Sequence[SweepPoint], jobs: int, record: Record) -> None:
    """Run the points on this machine: in this process when `jobs == 1`, else in `jobs` spawned workers.

    A SIGINT/SIGTERM stops the sweep (`RunInterrupted`) instead of counting as a failed point: the point
    being run writes its checkpoint, and the points not yet started are not started."""
    if jobs == 1:
        for point in points:
            try:
                run_point(point.data, str(root / point.name))
            except RunInterrupted:
                raise
            except Exception as err:  # noqa: BLE001 - one failed point must not stop the sweep
                record(point.name, _message(err))
            else:
                record(point.name, None)
        return
    # spawn, not fork: a forked child would inherit torch's thread pools and any CUDA state.
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=die_with_parent, initargs=(os.getpid(),)
    )
    interrupted: RunInterrupted | None = None
    try:
        futures = {pool.submit(run_point, p.data, str(root / p.name), default_threads(jobs)): p.name for p in points}
        for future in as_completed(futures):
            failure = None if future.cancelled() else future.exception()
            if isinstance(failure, RunInterrupted) and interrupted is None:
                interrupted = failure
            if interrupted is not None and isinstance(failure, RunInterrupted | BrokenProcessPool):
                pool.shutdown(wait=False, cancel_futures=True)
            elif not future.cancelled():
                record(futures[future], None if failure is None else _message(failure))
    except KeyboardInterrupt:  # the terminal's Ctrl-C reaches this process too, not only the workers
        interrupted = RunInterrupted("interrupted", signal.SIGINT)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # let the workers write their checkpoints
    if interrupted is not None:
        raise interrupted


def die_with_parent(parent: int, grace_seconds: float = 30.0) -> None:
    """Make this worker process end when the sweep that started it dies, even by SIGKILL.

    On Linux the kernel sends SIGTERM on the parent's death (`PR_SET_PDEATHSIG`); everywhere a watchdog
    thread checks every half second that the parent is still there. SIGTERM makes a training point
    write its checkpoint and stop (a re-run of the sweep resumes it); a worker still alive
    `grace_seconds` later exits at once.
    """
    armed = False
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            armed = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM) == 0  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above ran
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        if not armed:  # else the kernel has sent it already; a second one would cut the checkpoint short
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="retain-die-with-parent", daemon=True).start()


def launch_submitit(root: Path, points: Sequence[SweepPoint], jobs: int, record: Record) -> None:
    """Submit one SLURM job per point through submitit (`pip install submitit`) and wait for them.

    submitit's `AutoExecutor` falls back to local processes where no SLURM is found. Its logs go to
    `root/.submitit/`. `jobs` caps how many run at once (`slurm_array_parallelism`).
    """
    try:
        import submitit
    except ImportError:
        raise RetainError(
            "--launcher = 'submitit' is not valid: the submitit package is not installed "
            "(pip install submitit, or use --launcher local)"
        ) from None
    executor = submitit.AutoExecutor(folder=root / ".submitit")
    executor.update_parameters(timeout_min=24 * 60, slurm_array_parallelism=jobs, name=f"retain-{root.name}")
    with executor.batch():
        jobs_by_name = {p.name: executor.submit(run_point, p.data, str(root / p.name)) for p in points}
    for name, job in jobs_by_name.items():
        try:
            job.result()
        except Exception as err:  # noqa: BLE001 - report it and wait for the others
            record(name, _message(err))
        else:
            record(name, None)


LAUNCHERS: dict[str, Callable[[Path, Sequence[SweepPoint], int, Record], None]] = {
    "local": launch_local,
    "submitit": launch_submitit,
}
