"""The unlearning workflow: judging an unlearned model against its references, and `retain unlearn`.

`evaluate_unlearning` is called by `retain.api.run` when a config has unlearning requests;
`unlearn_run` unlearns tasks from a finished run folder and writes a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console

from retain.algorithms.base import Algorithm
from retain.config import Config, config_to_dict, read_config_data
from retain.errors import CheckpointError, ConfigError, RetainError, RunInterrupted
from retain.experiment.build import check_config, config_from_dict
from retain.metrics import summarise
from retain.runs.checkpoint import has_checkpoint
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, plot_accuracy_matrix, unlearning_table
from retain.runs.resume import config_differences
from retain.runs.store import RunFolder, set_aside
from retain.scenarios import Benchmark
from retain.training.data import test_batches
from retain.training.evaluate import accuracy
from retain.unlearning.evaluate import (
    distance_fn,
    distribution_distances,
    reference_config,
    unlearning_report,
)
from retain.unlearning.requests import unlearned_tasks

if TYPE_CHECKING:
    from retain.api import RunResult

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
    for name in ("seed", "scenario", "benchmark", "backbone"):
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


def _reference(
    cfg: Config,
    without: Sequence[int],
    given: str | None,
    out: Path | None,
    console: Console,
    step_hook: Callable[[int, int, int], None] | None = None,
    resume_command: str | None = None,
) -> RunResult:
    """A reference run: read from the folder `given`, or trained now (and saved to `out` if not None).

    A reference folder `out` left by an interrupted run is picked up: finished (summary.json) it is
    reused, with checkpoints it is resumed, otherwise it is renamed `NAME.partial-N` and trained again.
    """
    from retain.api import load_run, run

    name = "retrain" if without else "original"
    expected = check_config(reference_config(cfg, tuple(without)))
    if given is not None:
        given_reference_config(cfg, without, given)
        return load_run(given)
    if out is None:
        console.print(f"training the {name} reference ...")
        return run(expected, write=False, console=console, progress=False, step_hook=step_hook)
    resume = None
    if (out / "summary.json").is_file():
        ref = load_run(out)
        changed = config_differences(config_to_dict(expected), config_to_dict(ref.config))
        if changed:
            raise CheckpointError(
                f"{out} holds a finished {name} reference made with another config ({'; '.join(changed)}); "
                f"move it elsewhere to train it again"
            )
        console.print(f"reusing the finished {name} reference in {out}")
        return ref
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if (out / "config.yaml").is_file() and has_checkpoint(out):
            resume = out
        else:
            console.print(
                f"the unfinished {name} reference in {out} has no checkpoint: moved to {set_aside(out, 'partial')}"
            )
    try:
        if resume is not None:
            console.print(f"resuming the {name} reference in {out} ...")
            return run(expected, resume=out, console=console, progress=False, step_hook=step_hook)
        console.print(f"training the {name} reference ...")
        return run(expected, out=out, console=console, progress=False, step_hook=step_hook)
    except RunInterrupted as err:
        if resume_command is None:
            raise
        what = str(err).partition(" Resume with:")[0].rstrip(". ")
        raise RunInterrupted(
            f"{what}, while training the {name} reference. Resume the whole run with: {resume_command}",
            err.signal_number,
        ) from None


def evaluate_unlearning(
    cfg: Config,
    benchmark: Benchmark,
    algorithm: Algorithm,
    final_row: Sequence[float],
    device: torch.device,
    folder: RunFolder | None,
    console: Console,
    step_hook: Callable[[int, int, int], None] | None = None,
    resume_command: str | None = None,
) -> dict[str, Any]:
    """AG, DD and accuracies of the unlearned model against the retrain and original references.

    `step_hook` goes to the reference runs (tests); `resume_command`, if given, replaces the inner
    folder in the message of a reference run stopped by a signal (resume the whole run, not the reference).
    """
    unlearned = unlearned_tasks(cfg.unlearning.requests)
    refs = folder.path / "references" if folder else None
    original = _reference(
        cfg,
        (),
        cfg.unlearning.original_reference,
        refs / "original" if refs else None,
        console,
        step_hook,
        resume_command,
    )
    retrain = _reference(
        cfg,
        unlearned,
        cfg.unlearning.retrain_reference,
        refs / "retrain" if refs else None,
        console,
        step_hook,
        resume_command,
    )
    by_origin = {t.origin: t.id for t in benchmark.tasks}
    retrain_ids = {by_origin[t.origin]: t.id for t in retrain.benchmark.tasks}
    retrain_acc: dict[int, float | None] = {j: None for j in unlearned}
    for j, rid in retrain_ids.items():
        retrain_acc[j] = retrain.summary["accuracy_matrix"][-1][rid - 1]
    if cfg.scenario == "dil":  # the shared head can be tested on tasks the reference never saw
        last = retrain.benchmark.num_tasks
        test_bs = cfg.train.eval_batch_size
        for u in unlearned:
            task = benchmark.task(u)
            test = test_batches(task, benchmark, device)
            retrain_acc[u] = accuracy(retrain.algorithm, test, last, last, test_bs)
    dd = distribution_distances(
        algorithm,
        retrain.algorithm,
        benchmark,
        retrain_ids,
        distance_fn(cfg.unlearning.distance),
        device,
        cfg.train.eval_batch_size,
    )
    return unlearning_report(
        cfg,
        benchmark,
        {t.id: final_row[t.id - 1] for t in benchmark.tasks},
        {t.id: original.summary["accuracy_matrix"][-1][t.id - 1] for t in benchmark.tasks},
        retrain_acc,
        dd,
        {"original": str(original.path or "trained, not saved"), "retrain": str(retrain.path or "trained, not saved")},
    )


def unlearn_run(
    source: str | Path,
    tasks: Sequence[int],
    *,
    out: str | Path | None = None,
    evaluate: bool = True,
    console: Console | None = None,
) -> RunResult:
    """Unlearn `tasks` from the final model of a finished run and write the result as a new run folder.

    The source folder is only read. The new folder's `config.yaml` is the source config plus the request
    `{T: tasks}` (T = the last task), so `retain run --config` on it reproduces the same model; the
    source run serves as the original reference when it had no unlearning of its own. The unlearning is
    the step an in-run request after T takes (`Amnesiac.unlearn_after`), e.g. LwF's teacher of T is taken
    again from the unlearned model.
    """
    from retain.api import RunResult, environment, event_marks, load_run  # noqa: F811 - api imports this module

    console = console or Console()
    source = Path(source)
    ref = load_run(source)
    cfg, algorithm, benchmark = ref.config, ref.algorithm, ref.benchmark
    assert algorithm is not None and benchmark is not None
    last = benchmark.num_tasks
    requests = {**cfg.unlearning.requests, last: tuple(cfg.unlearning.requests.get(last, ())) + tuple(tasks)}
    data = config_to_dict(cfg)
    data["unlearning"].update(requests=requests, evaluate=evaluate)
    if not cfg.unlearning.requests and data["unlearning"]["original_reference"] is None:
        data["unlearning"]["original_reference"] = str(source)
    new_cfg = config_from_dict(data)  # validates: known tasks, not unlearned twice, algorithm can unlearn
    if evaluate:
        check_given_references(new_cfg)
    # the same step as an in-run request after task T: unlearn, then the end of task T is redone
    # (LwF takes its teacher of T again from the unlearned model)
    algorithm.unlearn_after(benchmark.task(last), list(tasks))  # type: ignore[attr-defined]
    device = next(algorithm.model.parameters()).device
    row = [
        accuracy(algorithm, test_batches(t, benchmark, device), t.id, last, cfg.train.eval_batch_size)
        for t in benchmark.tasks
    ]
    matrix = [list(r) for r in ref.summary["accuracy_matrix"][:-1]] + [row]
    folder = RunFolder(out or source.with_name(f"{source.name}-unlearned-{'-'.join(map(str, tasks))}"))
    folder.write_yaml("config.yaml", config_to_dict(new_cfg))
    folder.write_json("env.json", environment(device))
    unlearning = None
    if evaluate:
        unlearning = evaluate_unlearning(new_cfg, benchmark, algorithm, row, device, folder, console)
        folder.write_json("unlearning.json", unlearning)
    summary = {
        **ref.summary,
        **summarise(matrix),
        "unlearning_events": {str(t): list(us) for t, us in sorted(requests.items())},
        "unlearned_from": str(source),
    }
    save_model(folder.path, algorithm, benchmark)
    folder.write_accuracy_csv(matrix)
    plot_accuracy_matrix(
        matrix, folder.path / "plots", f"{cfg.algorithm.name} on {benchmark.name}", event_marks(new_cfg)
    )
    folder.write_json("summary.json", summary)
    console.print(matrix_table(matrix, "accuracy matrix (last row: after unlearning)", event_marks(new_cfg)))
    if unlearning is not None:
        console.print(unlearning_table(unlearning))
    console.print(f"run folder: {folder.path}")
    return RunResult(summary, new_cfg, folder.path, algorithm, benchmark, unlearning)
