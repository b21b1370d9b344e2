"""`retain unlearn`: unlearn tasks from the final model of a finished run, written as a new run folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from retain.algorithms import Algorithm
from retain.config import Config, config_to_dict
from retain.errors import ConfigError
from retain.experiment.build import config_from_dict
from retain.experiment.judgement import amnesiac_costs, complete_report
from retain.experiment.membership import check_membership
from retain.experiment.references import ReferenceTraining, check_given_references, evaluate_unlearning
from retain.experiment.restore_points import REWIND, checkpoint_before
from retain.experiment.result import RunResult, environment, event_marks, forgotten_cells, load_run
from retain.experiment.rewind import Rewound, rewind, rewind_costs
from retain.experiment.run import run
from retain.metrics import old_new_accuracy, summarise
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, plot_accuracy_matrix, unlearning_table
from retain.runs.store import RunFolder, resource_failure
from retain.training.data import input_spec, test_batches
from retain.training.evaluate import accuracy
from retain.training.loop import SequenceResult


def unlearn_run(
    source: str | Path,
    tasks: Sequence[int],
    *,
    out: str | Path | None = None,
    evaluate: bool = True,
    console: Console | None = None,
    method: str = "amnesiac",
) -> RunResult:
    """Unlearn `tasks` from the final model of a finished run and write the result as a new run folder.

    The source folder is only read. The new folder's `config.yaml` is the source config plus the request
    `{T: tasks}` (T = the last task), so `retain run --config` on it reproduces the same model; the
    source run serves as the original reference when it had no unlearning of its own. The unlearning is
    the step an in-run request after T takes (`Amnesiac.unlearn_after`); with `method="rewind"`, the
    rewind of `retain.experiment.rewind` from the source's task checkpoints (the source keeps them all).
    """
    console = console or Console()
    source = Path(source)
    ref = load_run(source)
    cfg, algorithm, benchmark = ref.config, ref.algorithm, ref.benchmark
    assert algorithm is not None and benchmark is not None
    new_cfg = _unlearned_config(cfg, source, benchmark.num_tasks, tasks, evaluate, method)
    if evaluate:
        check_given_references(new_cfg)
        check_membership(new_cfg, benchmark)
    if method == REWIND:  # refused before anything is written
        checkpoint_before(source / "checkpoints", benchmark, min(tasks))
    named = source.resolve()  # `retain unlearn .` from inside the run folder names its sibling
    folder = RunFolder(out or named.with_name(f"{named.name}-unlearned-{'-'.join(map(str, tasks))}"))
    try:
        result = _unlearn_into(folder, ref, new_cfg, (tasks, method), evaluate, console, source)
    except Exception as err:
        folder.discard()  # nothing half-written is left to block a retry
        plain = resource_failure(err, None)  # disk full, permission, out of memory: one line
        if plain is not None:
            raise plain from None
        raise
    finally:
        folder.release()
    return result


def _unlearn_step(
    folder: RunFolder, ref: RunResult, new_cfg: Config, request: tuple[Sequence[int], str], source: Path
) -> tuple[Algorithm, list[float], Rewound | None]:
    """Unlearn from the source's final model: the step an in-run request after the last task T takes
    (LwF then takes its teacher of T again from the unlearned model), or a rewind from the source's
    task checkpoints. Returns the unlearned algorithm, its accuracy row and the rewind (if one)."""
    algorithm, benchmark = ref.algorithm, ref.benchmark
    assert algorithm is not None and benchmark is not None
    tasks, method = request
    last = benchmark.num_tasks
    device = next(algorithm.model.parameters()).device
    if method == REWIND:
        src = RunFolder.existing(source)  # locked while its checkpoints are read
        try:
            start = Rewound(SequenceResult(ref.summary["accuracy_matrix"]), algorithm, benchmark, src)
            rewound = rewind(new_cfg, benchmark, start, (last, tasks), last, folder.path, device)
        finally:
            src.release()
        return rewound.algorithm, rewound.result.accuracy_matrix[-1], rewound
    algorithm.unlearn_after(benchmark.task(last), list(tasks))  # type: ignore[attr-defined]
    spec = input_spec(algorithm.model)  # a pretrained backbone's input size and normalisation
    row = [
        accuracy(algorithm, test_batches(t, benchmark, device, spec), t.id, last, new_cfg.train.eval_batch_size)
        for t in benchmark.tasks
    ]
    return algorithm, row, None


def _unlearn_into(
    folder: RunFolder,
    ref: RunResult,
    new_cfg: Config,
    request: tuple[Sequence[int], str],
    evaluate: bool,
    console: Console,
    source: Path,
) -> RunResult:
    """Write the new run folder: config, environment, the unlearning judged against its references, results."""
    benchmark = ref.benchmark
    assert benchmark is not None
    algorithm, row, rewound = _unlearn_step(folder, ref, new_cfg, request, source)
    device = next(algorithm.model.parameters()).device
    matrix = [list(r) for r in ref.summary["accuracy_matrix"][:-1]] + [row]
    folder.write_yaml("config.yaml", config_to_dict(new_cfg))
    folder.write_json("env.json", environment(device))
    unlearning = None
    if evaluate:
        how = ReferenceTraining(run, console, checkpoints=source / "checkpoints")
        world = rewound.world if rewound else None
        unlearning = evaluate_unlearning(new_cfg, benchmark, algorithm, row, device, folder, how, world)
        cost = rewind_costs(rewound) if rewound is not None else amnesiac_costs(algorithm)
        complete_report(unlearning, new_cfg, matrix, cost)
        folder.write_json("unlearning.json", unlearning)
    summary = {
        **ref.summary,
        **summarise(matrix),
        **(old_new_accuracy(matrix) if new_cfg.scenario == "cil" else {}),
        "unlearning_events": {str(t): list(us) for t, us in sorted(new_cfg.unlearning.requests.items())},
        "unlearned_from": str(source),
    }
    result = RunResult(summary, new_cfg, folder.path, algorithm, rewound.world if rewound else benchmark, unlearning)
    _write_and_show(folder, result, matrix, console)
    return result


def _write_and_show(folder: RunFolder, result: RunResult, matrix: list[list[float]], console: Console) -> None:
    """The new folder's model, accuracy matrix, plots and (last, marking it complete) summary; the tables."""
    assert result.algorithm is not None and result.benchmark is not None
    save_model(folder.path, result.algorithm, result.benchmark)
    folder.write_accuracy_csv(matrix)
    marks = event_marks(result.config)
    title = f"{result.config.algorithm.name} on {result.benchmark.name}"
    plot_accuracy_matrix(matrix, folder.path / "plots", title, marks, forgotten_cells(result.config))
    folder.write_json("summary.json", result.summary)
    cil = result.config.scenario == "cil"
    console.print(matrix_table(matrix, "accuracy matrix (last row: after unlearning)", marks, cil))
    if result.unlearning is not None:
        console.print(unlearning_table(result.unlearning))
    console.print(f"run folder: {folder.path}")


def _unlearned_config(
    cfg: Config, source: Path, last: int, tasks: Sequence[int], evaluate: bool, method: str
) -> Config:
    """The source config plus the request `{last: tasks}` (and `method: rewind` for a rewind); the source
    run is the original reference when it had no unlearning of its own. Validated: known tasks, none
    unlearned twice; a rewind needs a source without requests of its own (its checkpoints are the plain run's)."""
    if method == REWIND and cfg.unlearning.requests:
        raise ConfigError("--method", method, f"needs a run without unlearning requests of its own; {source} has some")
    requests = {**cfg.unlearning.requests, last: tuple(cfg.unlearning.requests.get(last, ())) + tuple(tasks)}
    data = config_to_dict(cfg)
    data["unlearning"].update(requests=requests, evaluate=evaluate)
    if method == REWIND:
        data["unlearning"]["method"] = REWIND
    if not cfg.unlearning.requests and data["unlearning"]["original_reference"] is None:
        data["unlearning"]["original_reference"] = str(source)
    return config_from_dict(data)
