"""The `retain` command line's arguments: one parser, a sub-parser per command (`retain.cli` runs them).

Nothing here imports torch or rich, so that `retain --help` answers at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file with the experiment (default: every default)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set train.epochs=2 (repeatable)",
    )
    parser.add_argument("--out", help="output folder (must not exist or be empty)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def parser() -> argparse.ArgumentParser:
    """The whole command line: `run`, `compare`, `sweep`, `report`, `list`, `schema`, `bench`, `unlearn`."""
    root = argparse.ArgumentParser(prog="retain", description="Continual learning and unlearning, built around LwF.")
    sub = root.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_sweep(sub)
    _add_report(sub)
    sub.add_parser("list", help="list the registered benchmarks, backbones and algorithms")
    schema = sub.add_parser("schema", help="print the JSON Schema of a config file (for editors)")
    schema.add_argument("--out", type=Path, help="write it to this file instead of printing it")
    bench = sub.add_parser("bench", help="benchmark harnesses: `retain bench speed --help`")
    bench.add_argument("harness", choices=["speed"])
    bench.add_argument("options", nargs=argparse.REMAINDER, help="the harness's own options")
    _add_unlearn(sub)
    return root


Subparsers = argparse._SubParsersAction  # the object `add_subparsers` returns


def _add_run(sub: Subparsers) -> None:
    """`run` and `compare`."""
    run = sub.add_parser("run", help="run one experiment")
    _add_config_args(run)
    run.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last complete checkpoint (--config/--set change "
        "its saved config, which needs --force)",
    )
    run.add_argument("--force", action="store_true", help="with --resume: accept a config that differs from the run's")
    compare = sub.add_parser("compare", help="run several algorithms on one config and print one table")
    _add_config_args(compare)
    compare.add_argument(
        "--algorithms", help="comma-separated (default: finetuning,lwf and the scenario's upper bound)"
    )


def _add_sweep(sub: Subparsers) -> None:
    sweep = sub.add_parser("sweep", help="run every combination of a grid (e.g. algorithms x seeds), resumable")
    _add_config_args(sweep)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a key and its values, e.g. --grid seed=1,2,3 (repeatable; every combination runs)",
    )
    sweep.add_argument(
        "--jobs", type=int, default=1, help="runs at once (default 1: one after another, in this process)"
    )
    sweep.add_argument(
        "--launcher", default="local", help="local (default: this machine) or submitit (SLURM; pip install submitit)"
    )


def _add_report(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="tables (mean +- std over seeds) and plots from run or sweep folders")
    report.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="run or sweep folders")
    report.add_argument("--out", type=Path, help="report folder (default: DIR/report for one DIR)")
    report.add_argument(
        "--format",
        action="append",
        default=[],
        choices=["csv", "latex", "markdown"],
        help="also write the tables as tables.csv / tables.tex / tables.md (repeatable)",
    )
    report.add_argument(
        "--baseline", metavar="NAME", help="row (or algorithm) the paired comparisons are against (default: first)"
    )
    report.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_unlearn(sub: Subparsers) -> None:
    unlearn = sub.add_parser("unlearn", help="unlearn tasks from a finished run, writing a new run folder")
    unlearn.add_argument("run_dir", type=Path, help="the finished run's folder (never modified)")
    unlearn.add_argument("--tasks", required=True, help="comma-separated task ids to unlearn, e.g. 2 or 2,3")
    unlearn.add_argument("--out", help="the new run folder (default: RUN_DIR-unlearned-TASKS)")
    unlearn.add_argument("--no-evaluate", action="store_true", help="skip the reference runs and AG/DD")
    unlearn.add_argument(
        "--method",
        choices=("amnesiac", "rewind"),
        default="amnesiac",
        help="amnesiac (the run's own unlearning method) or rewind (exact: retrain from the checkpoint before)",
    )
    unlearn.add_argument("--debug", action="store_true", help="show tracebacks")
