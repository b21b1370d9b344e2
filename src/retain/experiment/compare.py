"""`retain compare`: one experiment run with several algorithms, one table."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from retain.algorithms import ALGORITHMS
from retain.catalogue import check_algorithm_list
from retain.experiment.build import config_from_dict, keep_own_hyperparameters
from retain.experiment.result import RunResult
from retain.experiment.run import run
from retain.runs.loggers import clock
from retain.runs.report import metrics_table
from retain.scenarios.setting import upper_bound


def compare(
    config: Mapping[str, Any] | None = None,
    algorithms: Sequence[str] | None = None,
    *,
    out: str | Path | None = None,
    write: bool = True,
    console: Console | None = None,
) -> dict[str, RunResult]:
    """Run the same experiment with several algorithms and print one table.

    The default algorithms are finetuning (lower bound), lwf, and the scenario's upper bound
    (independent for TIL, joint for DIL and CIL). Hyperparameters in `config["algorithm"]` go to the
    algorithms that have them; the others ignore them.
    """
    data = dict(config or {})
    base = config_from_dict({**data, "algorithm": {}})
    names = list(algorithms or ("finetuning", "lwf", upper_bound(str(base.scenario))))
    console = console or Console()
    root = Path(
        out
        or data.get("out")
        or Path("runs") / f"compare-{base.benchmark.name}-{base.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    check_algorithm_list(names, ALGORITHMS)  # the registry: it may hold names added at run time
    # every config is checked before the first run trains: a bad name or hyperparameter costs nothing
    configs = {name: config_from_dict({**keep_own_hyperparameters(data, name), "out": None}) for name in names}
    results, started = {}, time.perf_counter()
    for i, (name, cfg) in enumerate(configs.items(), start=1):
        out_dir = root / name if write else None
        # a bar per run on a terminal; elsewhere (a log file) only the line per algorithm below
        results[name] = run(cfg, out=out_dir, write=write, console=console, progress=console.is_terminal, tables=False)
        spent = time.perf_counter() - started
        console.log(
            f"[{i}/{len(names)}] {name}: final average accuracy "
            f"{results[name].summary['final_average_accuracy']:.4f} ({clock(spent / i * (len(names) - i))} left)"
        )
    console.print(
        metrics_table(
            {n: r.summary for n, r in results.items()}, f"{base.benchmark.name} · {base.scenario} · seed {base.seed}"
        )
    )
    if write:
        console.print(f"run folders: {root}/")
    return results
