"""The references an unlearned model is judged against, and the judgement (`unlearning.json`).

The retrain reference is the same sequence without the unlearned tasks, the original reference the same
run without unlearning; each is read from a finished run folder given in the config, or trained now.
Training goes through the `runner` the caller passes (`retain.experiment.run.run`), which keeps this
module below the one that runs experiments.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from retain.algorithms.base import Algorithm
from retain.config import Config, config_to_dict, read_config_data
from retain.errors import CheckpointError, ConfigError, RetainError, RunInterrupted
from retain.experiment.build import check_config, config_from_dict
from retain.experiment.membership import View, membership_report
from retain.experiment.result import RunResult, load_run
from retain.experiment.rewind import unwrap_state
from retain.runs.checkpoint import (
    config_hash,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
    task_checkpoints,
    task_file,
)
from retain.runs.resume import config_differences
from retain.runs.store import RunFolder, atomic_write_bytes, set_aside
from retain.scenarios import Benchmark
from retain.scenarios.setting import head_is_shared
from retain.training.data import input_spec, test_batches
from retain.training.evaluate import accuracy
from retain.unlearning.evaluate import (
    distance_fn,
    distribution_distances,
    reference_config,
    unlearning_report,
)
from retain.unlearning.requests import unlearned_tasks

# `run(config, *, out=..., write=..., console=..., progress=..., resume=..., step_hook=...) -> RunResult`
Runner = Callable[..., RunResult]
STARTED_FROM = "started_from.json"  # in a retrain reference started from the run's checkpoint
IGNORED_TRAIN_KEYS = ("device", "num_workers", "eval_batch_size")  # how a run is computed, not what


def _reference_key(without: Sequence[int]) -> str:
    return "unlearning.retrain_reference" if without else "unlearning.original_reference"


def given_reference_config(cfg: Config, without: Sequence[int], given: str) -> Config:
    """The config of the finished run folder `given`, checked against the reference `cfg` needs.

    Raises:
        ConfigError: (naming `unlearning.retrain_reference` or `original_reference`) the folder does not
            exist, is not a finished run (config.yaml and summary.json), or was trained differently.
    """
    key = _reference_key(without)
    expected = reference_config(cfg, tuple(without))
    folder = Path(given)
    if not folder.is_dir():
        raise ConfigError(key, given, "expected the folder of a finished run; there is no such folder")
    missing = [name for name in ("config.yaml", "summary.json") if not (folder / name).is_file()]
    if missing:
        raise ConfigError(key, given, f"expected the folder of a finished run; {' and '.join(missing)} missing in it")
    try:
        ref = config_from_dict(read_config_data(folder / "config.yaml"))
    except RetainError as err:
        raise ConfigError(key, given, f"its config.yaml cannot be used ({' '.join(str(err).split())})") from None
    for name in ("seed", "scenario", "benchmark", "backbone", "memory", "eval"):
        if getattr(ref, name) != getattr(expected, name):
            raise ConfigError(key, given, f"its {name} differs from this run's reference ({getattr(expected, name)!r})")
    ref_train, want_train = config_to_dict(ref)["train"], config_to_dict(expected)["train"]
    for name in IGNORED_TRAIN_KEYS:
        ref_train.pop(name, None)
        want_train.pop(name, None)
    changed = config_differences(want_train, ref_train, "train.")
    if changed:
        raise ConfigError(key, given, f"it was trained differently from this run's reference ({'; '.join(changed)})")
    if not without:  # the original reference is this run's algorithm without the unlearning
        ref_algorithm = reference_config(ref, ()).algorithm
        if ref_algorithm != expected.algorithm:
            changed = config_differences(
                config_to_dict(expected)["algorithm"], config_to_dict(ref)["algorithm"], "algorithm."
            )
            raise ConfigError(key, given, f"its algorithm differs from this run's ({'; '.join(changed)})")
    return ref


def check_given_references(cfg: Config) -> None:
    """Check the reference folders named in `cfg.unlearning` before anything is trained or written."""
    if not (cfg.unlearning.requests and cfg.unlearning.evaluate):
        return
    unlearned = unlearned_tasks(cfg.unlearning.requests)
    if cfg.unlearning.original_reference is not None:
        given_reference_config(cfg, (), cfg.unlearning.original_reference)
    if cfg.unlearning.retrain_reference is not None:
        given_reference_config(cfg, unlearned, cfg.unlearning.retrain_reference)


@dataclass(frozen=True)
class ReferenceTraining:
    """How the references that are not given get trained: through `runner` (`retain.experiment.run.run`),
    printing to `console`. `step_hook` goes to the reference runs (tests); `resume_command`, if given,
    replaces the inner folder in the message of a reference run stopped by a signal (resume the whole
    run, not the reference)."""

    runner: Runner
    console: Console
    step_hook: Callable[[int, int, int], None] | None = None
    resume_command: str | None = None
    checkpoints: Path | None = None  # the run's task checkpoints: the retrain reference starts from one


def _reference(
    cfg: Config, without: Sequence[int], given: str | None, out: Path | None, how: ReferenceTraining
) -> RunResult:
    """A reference run: read from the folder `given`, or trained now (and saved to `out` if not None).

    A reference folder `out` left by an interrupted run is picked up: finished (summary.json) it is
    reused, with checkpoints it is resumed, otherwise it is renamed `NAME.partial-N` and trained again.
    """
    name = "retrain" if without else "original"
    expected = check_config(reference_config(cfg, tuple(without)))
    if given is not None:
        given_reference_config(cfg, without, given)
        return load_run(given)
    bar = how.console.is_terminal  # a progress bar on a terminal; in a log file only the line saying which
    what = f"{name} reference (" + (f"without task {', '.join(map(str, without))})" if without else "no unlearning)")
    if out is None:
        how.console.print(f"training the {what} ...")
        return how.runner(
            expected, write=False, console=how.console, progress=bar, tables=False, step_hook=how.step_hook
        )
    if (out / "summary.json").is_file():
        return _finished_reference(out, expected, name, how.console)
    resume = False
    if without and how.checkpoints is not None and not out.exists():
        seed_reference(out, expected, how.checkpoints, min(without))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        resume = (out / "config.yaml").is_file() and has_checkpoint(out)
        if not resume:
            how.console.print(
                f"the unfinished {name} reference in {out} has no checkpoint: moved to {set_aside(out, 'partial')}"
            )
    return _train_reference(expected, out, resume, what, how)


def seed_reference(out: Path, expected: Config, checkpoints: Path, first: int) -> int:
    """Start the retrain reference folder `out` at the run's checkpoint after task k = `first` − 1 (the
    tasks before the first unlearned one are the same in both sequences: the same weights, algorithm
    state, random states and log), so that resuming it trains only tasks k+1.. (exact: see the test).
    Returns k; 0 (nothing written) when there is no such checkpoint."""
    path = task_checkpoints(checkpoints).get(first - 1)
    if path is None:
        return 0
    payload = load_checkpoint(path)
    data = config_to_dict(expected)
    payload.update(config=data, config_hash=config_hash(data), algorithm=unwrap_state(payload["algorithm"]))
    folder = RunFolder(out)
    try:
        log = checkpoints.parent / "metrics.jsonl"
        kept = log.read_bytes()[: payload["metrics_bytes"]] if log.is_file() else b""
        atomic_write_bytes(out / "metrics.jsonl", kept)
        payload["metrics_bytes"] = len(kept)
        save_checkpoint(out / "checkpoints" / task_file(first - 1), payload)
        folder.write_json(STARTED_FROM, {"after_task": first - 1, "checkpoint": str(path)})
        folder.write_yaml("config.yaml", data)  # last: a folder with its config and a checkpoint is resumed
    finally:
        folder.release()  # the resume that trains the rest takes the lock again
    return first - 1


def reference_savings(original: RunResult, retrain: RunResult) -> dict[str, Any]:
    """How much training the retrain reference saved by starting from the run's checkpoint: the seconds
    of the tasks it did not train again (the run's own), and those it trained."""
    started = retrain.path / STARTED_FROM if retrain.path else None
    k = json.loads(started.read_text())["after_task"] if started and started.is_file() else 0
    seconds = retrain.summary.get("train_seconds_per_task", [])
    return {
        "retrain_started_after_task": k,
        "retrain_seconds": sum(seconds[k:]),
        "retrain_seconds_saved": sum(seconds[:k]),
    }


def _finished_reference(out: Path, expected: Config, name: str, console: Console) -> RunResult:
    """The finished reference in `out`, refused if it was made with another config than `expected`."""
    ref = load_run(out)
    changed = config_differences(config_to_dict(expected), config_to_dict(ref.config))
    if changed:
        raise CheckpointError(
            f"{out} holds a finished {name} reference made with another config ({'; '.join(changed)}); "
            f"move it elsewhere to train it again"
        )
    console.print(f"reusing the finished {name} reference in {out}")
    return ref


def _train_reference(expected: Config, out: Path, resume: bool, name: str, how: ReferenceTraining) -> RunResult:
    """Train (or resume) the reference into `out`; a signal names the whole run's resume command."""
    try:
        bar = how.console.is_terminal
        if resume:
            how.console.print(f"resuming the {name} in {out} ...")
            return how.runner(
                expected, resume=out, console=how.console, progress=bar, tables=False, step_hook=how.step_hook
            )
        how.console.print(f"training the {name} ...")
        return how.runner(expected, out=out, console=how.console, progress=bar, tables=False, step_hook=how.step_hook)
    except RunInterrupted as err:
        if how.resume_command is None:
            raise
        raise err.resumed_by(f", while training the {name}", how.resume_command) from None


def evaluate_unlearning(
    cfg: Config,
    benchmark: Benchmark,
    algorithm: Algorithm,
    final_row: Sequence[float],
    device: torch.device,
    folder: RunFolder | None,
    how: ReferenceTraining,
    world: Benchmark | None = None,
) -> dict[str, Any]:
    """AG, DD, accuracies and membership inference of the unlearned model against the retrain and original
    references (kept under `folder/references/` when there is a folder). `world`: the benchmark in the
    unlearned model's own numbering when it is not `benchmark`'s (a rewound model)."""
    unlearned = unlearned_tasks(cfg.unlearning.requests)
    refs = folder.path / "references" if folder else None
    u_cfg = cfg.unlearning
    original = _reference(cfg, (), u_cfg.original_reference, refs / "original" if refs else None, how)
    retrain = _reference(cfg, unlearned, u_cfg.retrain_reference, refs / "retrain" if refs else None, how)
    assert retrain.benchmark is not None and retrain.algorithm is not None  # a reference is always built
    by_origin = {t.origin: t.id for t in benchmark.tasks}
    retrain_ids = {by_origin[t.origin]: t.id for t in retrain.benchmark.tasks}
    retrain_acc = _retrain_accuracy(cfg, benchmark, retrain, retrain_ids, unlearned, device)
    tests = {t.id: test_batches(t, benchmark, device, input_spec(algorithm.model)) for t in benchmark.tasks}
    distance = distance_fn(cfg.unlearning.distance)
    model_ids = None if world is None else {by_origin[t.origin]: t.id for t in world.tasks}
    test_bs = cfg.train.eval_batch_size
    dd = distribution_distances(algorithm, retrain.algorithm, tests, retrain_ids, distance, test_bs, model_ids)
    report = unlearning_report(
        cfg,
        benchmark,
        {t.id: final_row[t.id - 1] for t in benchmark.tasks},
        {t.id: original.summary["accuracy_matrix"][-1][t.id - 1] for t in benchmark.tasks},
        retrain_acc,
        dd,
        {"original": _where(original.path, folder), "retrain": _where(retrain.path, folder)},
    )
    report["reference_training"] = reference_savings(original, retrain)
    if cfg.unlearning.membership:
        assert original.algorithm is not None and original.benchmark is not None
        views = {
            "unlearned_model": View(algorithm, world or benchmark),
            "retrain_reference": View(retrain.algorithm, retrain.benchmark),
            "original_reference": View(original.algorithm, original.benchmark),
        }
        report["membership"] = membership_report(cfg, benchmark, views, device)
    return report


def _where(path: Path | None, folder: RunFolder | None) -> str:
    """A reference's folder as `unlearning.json` records it: one trained into the run folder's `references/`
    relative to the run folder (a moved run folder still points at its own references); a folder given in
    the config as it was given."""
    if path is None:
        return "trained, not saved"
    inside = folder is not None and Path(path).resolve().is_relative_to(folder.path.resolve())
    return Path(os.path.relpath(path, folder.path)).as_posix() if inside and folder else str(path)


def _retrain_accuracy(
    cfg: Config,
    benchmark: Benchmark,
    retrain: RunResult,
    retrain_ids: dict[int, int],
    unlearned: list[int],
    device: torch.device,
) -> dict[int, float | None]:
    """The retrain reference's final accuracy per task of the run (by the run's task ids); None for an
    unlearned task it cannot be tested on (no head for it)."""
    assert retrain.algorithm is not None and retrain.benchmark is not None
    retrain_acc: dict[int, float | None] = {j: None for j in unlearned}
    for j, rid in retrain_ids.items():
        retrain_acc[j] = retrain.summary["accuracy_matrix"][-1][rid - 1]
    if head_is_shared(str(cfg.scenario)):  # the reference's head can be tested on tasks it never saw
        last = retrain.benchmark.num_tasks
        test_bs = cfg.train.eval_batch_size
        for u in unlearned:
            test = test_batches(benchmark.task(u), benchmark, device, input_spec(retrain.algorithm.model))
            retrain_acc[u] = accuracy(retrain.algorithm, test, last, last, test_bs)
    return retrain_acc
