"""`retain unlearn`: unlearn tasks from the final model of a finished run, written as a new run folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from retain.config import Config, config_to_dict
from retain.experiment.build import config_from_dict
from retain.experiment.references import ReferenceTraining, check_given_references, evaluate_unlearning
from retain.experiment.result import RunResult, environment, event_marks, load_run
from retain.experiment.run import run
from retain.metrics import summarise
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, plot_accuracy_matrix, unlearning_table
from retain.runs.store import RunFolder, resource_failure
from retain.training.data import test_batches
from retain.training.evaluate import accuracy


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
    the step an in-run request after T takes (`Amnesiac.unlearn_after`).
    """
    console = console or Console()
    source = Path(source)
    ref = load_run(source)
    cfg, algorithm, benchmark = ref.config, ref.algorithm, ref.benchmark
    assert algorithm is not None and benchmark is not None
    last = benchmark.num_tasks
    new_cfg = _unlearned_config(cfg, source, last, tasks, evaluate)
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
    named = source.resolve()  # `retain unlearn .` from inside the run folder names its sibling
    folder = RunFolder(out or named.with_name(f"{named.name}-unlearned-{'-'.join(map(str, tasks))}"))
    try:
        result = _unlearn_into(folder, ref, new_cfg, row, matrix, evaluate, console, source)
    except Exception as err:
        folder.discard()  # nothing half-written is left to block a retry
        plain = resource_failure(err, None)  # disk full, permission, out of memory: one line
        if plain is not None:
            raise plain from None
        raise
    finally:
        folder.release()
    return result


def _unlearn_into(
    folder: RunFolder,
    ref: RunResult,
    new_cfg: Config,
    row: list[float],
    matrix: list[list[float]],
    evaluate: bool,
    console: Console,
    source: Path,
) -> RunResult:
    """Write the new run folder: config, environment, the unlearning judged against its references, results."""
    algorithm, benchmark = ref.algorithm, ref.benchmark
    assert algorithm is not None and benchmark is not None
    device = next(algorithm.model.parameters()).device
    folder.write_yaml("config.yaml", config_to_dict(new_cfg))
    folder.write_json("env.json", environment(device))
    unlearning = None
    if evaluate:
        how = ReferenceTraining(run, console)
        unlearning = evaluate_unlearning(new_cfg, benchmark, algorithm, row, device, folder, how)
        folder.write_json("unlearning.json", unlearning)
    summary = {
        **ref.summary,
        **summarise(matrix),
        "unlearning_events": {str(t): list(us) for t, us in sorted(new_cfg.unlearning.requests.items())},
        "unlearned_from": str(source),
    }
    result = RunResult(summary, new_cfg, folder.path, algorithm, benchmark, unlearning)
    _write_and_show(folder, result, matrix, console)
    return result


def _write_and_show(folder: RunFolder, result: RunResult, matrix: list[list[float]], console: Console) -> None:
    """The new folder's model, accuracy matrix, plots and (last, marking it complete) summary; the tables."""
    assert result.algorithm is not None and result.benchmark is not None
    save_model(folder.path, result.algorithm, result.benchmark)
    folder.write_accuracy_csv(matrix)
    marks = event_marks(result.config)
    title = f"{result.config.algorithm.name} on {result.benchmark.name}"
    plot_accuracy_matrix(matrix, folder.path / "plots", title, marks)
    folder.write_json("summary.json", result.summary)
    console.print(matrix_table(matrix, "accuracy matrix (last row: after unlearning)", marks))
    if result.unlearning is not None:
        console.print(unlearning_table(result.unlearning))
    console.print(f"run folder: {folder.path}")


def _unlearned_config(cfg: Config, source: Path, last: int, tasks: Sequence[int], evaluate: bool) -> Config:
    """The source config plus the request `{last: tasks}`; the source run is the original reference
    when it had no unlearning of its own. Validated: known tasks, none unlearned twice."""
    requests = {**cfg.unlearning.requests, last: tuple(cfg.unlearning.requests.get(last, ())) + tuple(tasks)}
    data = config_to_dict(cfg)
    data["unlearning"].update(requests=requests, evaluate=evaluate)
    if not cfg.unlearning.requests and data["unlearning"]["original_reference"] is None:
        data["unlearning"]["original_reference"] = str(source)
    return config_from_dict(data)
