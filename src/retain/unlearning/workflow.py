"""The unlearning workflow: judging an unlearned model against its references, and `retain unlearn`.

`evaluate_unlearning` is called by `retain.api.run` when a config has unlearning requests;
`unlearn_run` unlearns tasks from a finished run folder and writes a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console

from retain.algorithms.base import Algorithm
from retain.config import Config, config_from_dict, config_to_dict
from retain.errors import ConfigError
from retain.metrics import summarise
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, plot_accuracy_matrix, unlearning_table
from retain.runs.store import RunFolder
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

def _reference(cfg: Config, without: Sequence[int], given: str | None, out: Path | None, console: Console) -> RunResult:
    """A reference run: read from the folder `given`, or trained now (and saved to `out` if not None)."""
    from retain.api import load_run, run

    expected = reference_config(cfg, tuple(without))
    if given is not None:
        ref = load_run(given)
        for key in ("seed", "scenario", "benchmark", "backbone"):
            if getattr(ref.config, key) != getattr(expected, key):
                raise ConfigError(
                    "unlearning.retrain_reference" if without else "unlearning.original_reference",
                    given,
                    f"its {key} differs from this run's reference ({getattr(expected, key)!r})",
                )
        return ref
    console.print(f"training the {'retrain' if without else 'original'} reference ...")
    return run(expected, out=out, write=out is not None, console=console, progress=False)


def evaluate_unlearning(
    cfg: Config,
    benchmark: Benchmark,
    algorithm: Algorithm,
    final_row: Sequence[float],
    device: torch.device,
    folder: RunFolder | None,
    console: Console,
) -> dict[str, Any]:
    """AG, DD and accuracies of the unlearned model against the retrain and original references."""
    unlearned = unlearned_tasks(cfg.unlearning.requests)
    refs = folder.path / "references" if folder else None
    original = _reference(cfg, (), cfg.unlearning.original_reference, refs / "original" if refs else None, console)
    retrain = _reference(cfg, unlearned, cfg.unlearning.retrain_reference, refs / "retrain" if refs else None, console)
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
        algorithm, retrain.algorithm, benchmark, retrain_ids, distance_fn(cfg.unlearning.distance), device,
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
    plot_accuracy_matrix(matrix, folder.path / "plots", f"{cfg.algorithm.name} on {benchmark.name}", event_marks(new_cfg))
    folder.write_json("summary.json", summary)
    console.print(matrix_table(matrix, "accuracy matrix (last row: after unlearning)", event_marks(new_cfg)))
    if unlearning is not None:
        console.print(unlearning_table(unlearning))
    console.print(f"run folder: {folder.path}")
    return RunResult(summary, new_cfg, folder.path, algorithm, benchmark, unlearning)
