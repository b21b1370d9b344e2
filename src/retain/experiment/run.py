"""Run one experiment: build it from its config, train the tasks in order, test after each, write the run folder.

`run` is the story of an experiment in order: check the config, open (or reopen) the run folder,
train the sequence (`retain.training.loop.run_sequence`), judge any unlearning against its references,
then write the results and print them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from retain.algorithms import Algorithm
from retain.config import Config, config_to_dict
from retain.errors import ConfigError
from retain.experiment.build import as_config, build
from retain.experiment.judgement import amnesiac_costs, complete_report
from retain.experiment.membership import AttackAfterRequests, check_membership
from retain.experiment.outputs import print_results, summary_of, write_results
from retain.experiment.references import ReferenceTraining, check_given_references, evaluate_unlearning
from retain.experiment.restore_points import REWIND, check_rewind
from retain.experiment.result import RunResult, environment
from retain.experiment.resume import open_run
from retain.experiment.rewind import Rewound, rewind_costs
from retain.experiment.sequence import Trained, closing, train_all
from retain.runs.checkpoint import has_checkpoint
from retain.runs.loggers import require_tensorboard
from retain.runs.resume import ResumedRun, restore
from retain.runs.store import RunFolder, atomic_write_bytes, default_run_name, resource_failure
from retain.runs.trackers import open_trackers, require, wanted
from retain.scenarios import Benchmark
from retain.training.distributed import Distributed, process_group
from retain.training.loop import ResumePoint, SequenceResult, resolve_device
from retain.training.threads import ThreadChoice, choose_threads, using_threads
from retain.unlearning.requests import check_leaves_a_task

StepHook = Callable[[int, int, int], None]


@dataclass(frozen=True)
class _Options:
    """How `run` was asked to run: where to write, whether to, where to print, and the test hook."""

    out: str | Path | None
    write: bool
    console: Console | None
    progress: bool
    step_hook: StepHook | None
    tables: bool


def run(
    config: Config | Mapping[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    write: bool = True,
    console: Console | None = None,
    progress: bool = True,
    resume: str | Path | None = None,
    force: bool = False,
    step_hook: Callable[[int, int, int], None] | None = None,
    tables: bool | None = None,
) -> RunResult:
    """Run one experiment: train the tasks in order, test after each, return and save the results.

    A written run checkpoints after every task (`RUN/checkpoints/`); SIGINT/SIGTERM stop it after the
    current step with a checkpoint (`RunInterrupted`), and `resume=RUN` continues it. With unlearning
    requests (and `unlearning.evaluate`), the unlearned model is judged against the retrain and
    original references and `unlearning.json` is written.

    Args:
        config: the experiment (a Config, a mapping as in YAML, or None for the defaults; with
            `resume`, None means the run's own config).
        out: the run folder; default `config.out`, else `runs/<benchmark>-<scenario>-<algorithm>-seed<S>-<time>`.
        write: False runs without writing any file (and without checkpoints).
        console: where tables and the progress bar go (default: the terminal).
        progress: show the progress (bars on a terminal, one line per task elsewhere).
        tables: print the thread count and, at the end, the results (default: as `progress`).
        resume: an earlier run's folder to continue from its last complete checkpoint.
        force: with `resume`, accept a config that differs from the checkpoint's.
        step_hook: called before every training step with (task id, epoch, step); for tests.
    """
    resumed = None
    if resume is not None:
        if out is not None or not write:
            raise ConfigError("--out", out, "not used with --resume: a resumed run continues in its own folder")
        resumed = open_run(resume, None if config is None else as_config(config), force)
    with contextlib.ExitStack() as stack:  # the run folder's lock is held until the run ends
        if resumed:
            folder = resumed.folder
            stack.push(lambda kind, err, tb: _after_run(folder, err, created=False))
        cfg = resumed.config if resumed else as_config(config)
        if cfg.logging.tensorboard and not write:
            raise ConfigError("logging.tensorboard", True, "needs a run folder to write to (write=True)")
        if cfg.logging.tensorboard:
            require_tensorboard()  # fail before the run folder exists, not after
        if cfg.unlearning.requests and cfg.unlearning.evaluate:
            check_given_references(cfg)  # reference folders to reuse: checked before anything is trained
        for key in wanted(cfg):  # trackers likewise: the package is there and there is a folder to write to
            if not write:
                raise ConfigError(f"logging.{key}", True, "needs a run folder to write to (write=True)")
            require(key)
        check_rewind(cfg, write)
        with process_group(resolve_device(cfg.train.device)) as (ranks, device):
            return _run_on(
                cfg,
                resumed,
                ranks,
                device,
                _Options(out, write, console, progress, step_hook, progress if tables is None else tables),
                stack,
            )
    raise AssertionError("unreachable")  # mypy: the with block returns or raises


def _run_on(
    cfg: Config,
    resumed: ResumedRun | None,
    ranks: Distributed,
    device: torch.device,
    opts: _Options,
    stack: contextlib.ExitStack,
) -> RunResult:
    """The body of `run` once the config, the device and this process's rank are known."""
    benchmark, algorithm = build(cfg)
    if cfg.unlearning.requests and cfg.unlearning.evaluate:  # the task count may be known only now
        check_leaves_a_task(cfg.unlearning.requests, benchmark.num_tasks)
    check_membership(cfg, benchmark)  # before training: enough samples for the attack
    batch = (cfg.train.batch_size, *benchmark.input_shape) if device.type == "cpu" else None  # to try thread counts on
    threads = choose_threads(cfg.train.threads, algorithm.model, input_shape=batch)
    with using_threads(threads):
        return _run_built(cfg, resumed, ranks, device, opts, (benchmark, algorithm, threads), stack)


def _run_built(
    cfg: Config,
    resumed: ResumedRun | None,
    ranks: Distributed,
    device: torch.device,
    opts: _Options,
    built: tuple[Benchmark, Algorithm, ThreadChoice],
    stack: contextlib.ExitStack,
) -> RunResult:
    """The body of `run` once the benchmark, the algorithm and the thread count are chosen; a new run
    folder is released (or, failing before its first checkpoint, removed) when `stack` closes."""
    benchmark, algorithm, threads = built
    lead = ranks.rank == 0  # under torchrun only rank 0 writes files and prints
    generator = torch.Generator().manual_seed(cfg.seed)
    start_at, elapsed, folder = None, 0.0, None
    if resumed:
        folder = resumed.folder
        start_at, elapsed = _continue(resumed, cfg, algorithm, benchmark, generator, device)
    elif opts.write and lead:
        folder = _new_folder(cfg, benchmark, device, opts.out, threads, stack)
    console = opts.console or Console(stderr=False)
    progress, tables = opts.progress and lead, opts.tables and lead
    if tables:
        console.print(f"threads: {threads.threads} ({threads.reason}; train.threads: {threads.setting})")
    label = f"{cfg.algorithm.name} on {benchmark.name} ({cfg.scenario})"
    clock = time.perf_counter() - elapsed
    trained = Trained(algorithm, benchmark, generator, device, ranks)
    u_cfg = cfg.unlearning
    if u_cfg.requests and u_cfg.evaluate and u_cfg.membership and u_cfg.method != REWIND:
        trained = replace(trained, watch=AttackAfterRequests(cfg, benchmark, algorithm, device))
        if resumed and resumed.checkpoint and trained.watch is not None:
            trained.watch.load_state_dict(resumed.checkpoint.get("watch", {}))
    trackers = open_trackers(cfg, folder.path if folder else None, ranks.rank)
    with closing(trackers):
        bar = console if progress else None
        result, trained, rewound = train_all(
            cfg, trained, folder, (start_at, elapsed), bar, label, opts.step_hook, trackers
        )
        algorithm = trained.algorithm
        summary = summary_of(cfg, benchmark, result, time.perf_counter() - clock)
        unlearning = None
        if cfg.unlearning.requests and cfg.unlearning.evaluate:
            unlearning = _judge(cfg, benchmark, (trained, result, rewound), folder, console, opts.step_hook)
        if folder:
            write_results(folder, cfg, trained, result, summary, unlearning, label)
        for tracker in trackers:
            tracker.finish(summary, unlearning)
    if tables:
        print_results(console, cfg, result, summary, unlearning, folder, label)
    return RunResult(summary, cfg, folder.path if folder else None, algorithm, benchmark, unlearning)


def _judge(
    cfg: Config,
    benchmark: Benchmark,
    outcome: tuple[Trained, SequenceResult, Rewound | None],
    folder: RunFolder | None,
    console: Console,
    step_hook: StepHook | None,
) -> dict[str, Any]:
    """`unlearning.json`: the unlearned model judged against its references (trained now or reused),
    with the unlearning's cost and the relapse after each request."""
    trained, result, rewound = outcome
    resume_command = f"retain run --resume {folder.path}" if folder else None
    checkpoints = folder.path / "checkpoints" if folder else None
    how = ReferenceTraining(run, console, step_hook, resume_command, checkpoints)
    world = rewound.world if rewound else None
    final = result.accuracy_matrix[-1]
    unlearning = evaluate_unlearning(cfg, benchmark, trained.algorithm, final, trained.device, folder, how, world)
    cost = rewind_costs(rewound) if rewound is not None else amnesiac_costs(trained.algorithm)
    attacks = trained.watch.scores if isinstance(trained.watch, AttackAfterRequests) else None
    complete_report(unlearning, cfg, result.accuracy_matrix, cost, attacks)
    return unlearning


def _new_folder(
    cfg: Config,
    benchmark: Benchmark,
    device: torch.device,
    out: str | Path | None,
    threads: ThreadChoice,
    stack: contextlib.ExitStack,
) -> RunFolder:
    """A fresh run folder holding the resolved config and the environment (with the threads chosen),
    locked until `stack` closes; removed then if the run failed before its first checkpoint (nothing
    half-written blocks a retry)."""
    name = default_run_name(benchmark.name, str(cfg.scenario), cfg.algorithm.name, cfg.seed)
    folder = RunFolder(out or cfg.out or Path("runs") / name)
    stack.push(lambda kind, err, tb: _after_run(folder, err, created=True))
    folder.write_yaml("config.yaml", config_to_dict(cfg))
    folder.write_json("env.json", environment(device, threads))
    return folder


def _after_run(folder: RunFolder, failure: BaseException | None, created: bool) -> None:
    """Release the folder. A new run failing (an `Exception`; a kill or its stand-in leaves the folder
    resumable) before its first checkpoint removes it; an OS error or out-of-memory becomes one line
    saying whether the checkpoint is intact and how to resume."""
    if created and isinstance(failure, Exception) and not has_checkpoint(folder.path):
        folder.discard()
    folder.release()
    if failure is not None and (plain := resource_failure(failure, folder.path)) is not None:
        raise plain from None


def _continue(
    resumed: ResumedRun,
    cfg: Config,
    algorithm: Algorithm,
    benchmark: Benchmark,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[ResumePoint | None, float]:
    """Restore a resumed run (see `retain.runs.resume`); returns where to start and the time spent so far."""
    if resumed.changed:  # forced: keep the config it started with next to the new one
        previous = (resumed.folder.path / "config.yaml").read_bytes()  # checked: not a link (RunFolder)
        atomic_write_bytes(resumed.folder.path / "config.previous.yaml", previous)
        resumed.folder.write_yaml("config.yaml", config_to_dict(cfg))
    start_at = restore(resumed, algorithm, benchmark, generator, device)
    return start_at, resumed.checkpoint["elapsed_seconds"] if resumed.checkpoint else 0.0
