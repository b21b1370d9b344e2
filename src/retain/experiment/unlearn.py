"""`retain unlearn`: unlearn tasks from the final model of a finished run, written as a new run folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from retain.config import config_to_dict
from retain.experiment.build import config_from_dict
from retain.experiment.references import check_given_references, evaluate_unlearning
from retain.experiment.result import RunResult, environment, event_marks, load_run
from retain.experiment.run import run
from retain.metrics import summarise
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, plot_accuracy_matrix, unlearning_table
from retain.runs.store import RunFolder
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
    the step an in-run request after T takes (`Amnesiac.unlearn_after`), e.g. LwF's teacher of T is taken
    again from the unlearned model.
    """
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
        unlearning = evaluate_unlearning(new_cfg, benchmark, algorithm, row, device, folder, console, run)
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
