"""The `retain` command line: `run`, `compare`, `sweep`, `report` and `list`.

Any error retain raises on purpose (bad config, missing data, existing output folder) is printed as
one line on stderr with exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from retain.errors import RetainError


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file with the experiment (default: every default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one key, e.g. --set train.epochs=2 (repeatable)")
    parser.add_argument("--out", help="output folder (must not exist or be empty)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="retain", description="Continual learning and unlearning, built around LwF.")
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one experiment")
    _add_config_args(run)
    run.add_argument("--quiet", action="store_true", help="no progress bar or tables")
    compare = sub.add_parser("compare", help="run several algorithms on one config and print one table")
    _add_config_args(compare)
    compare.add_argument("--algorithms", help="comma-separated (default: finetuning,lwf and the scenario's upper bound)")
    sweep = sub.add_parser("sweep", help="run every combination of a grid (e.g. algorithms x seeds), resumable")
    _add_config_args(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="a key and its values, e.g. --grid seed=1,2,3 (repeatable; every combination runs)")
    sweep.add_argument("--jobs", type=int, default=1, help="runs at once (default 1: one after another, in this process)")
    sweep.add_argument("--launcher", default="local", help="local (default: this machine) or submitit (SLURM; pip install submitit)")
    report = sub.add_parser("report", help="tables (mean +- std over seeds) and plots from run or sweep folders")
    report.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="run or sweep folders")
    report.add_argument("--out", type=Path, help="report folder (default: DIR/report for one DIR)")
    report.add_argument("--debug", action="store_true", help="show tracebacks")
    sub.add_parser("list", help="list the registered benchmarks, backbones and algorithms")
    return root


def _raw_config(args: argparse.Namespace) -> dict[str, Any]:
    from retain.config import read_config_data

    return read_config_data(args.config, args.overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from retain.api import run
    from retain.config import config_from_dict

    cfg = config_from_dict(_raw_config(args))  # every error surfaces here, before any training
    run(cfg, out=args.out, progress=not args.quiet)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from retain.api import compare

    names = [n.strip() for n in args.algorithms.split(",") if n.strip()] if args.algorithms else None
    compare(_raw_config(args), names, out=args.out)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from retain.runs.collect import find_runs, group
    from retain.runs.pages import terminal_tables
    from retain.runs.sweep import parse_grid, sweep

    data = _raw_config(args)
    grid = parse_grid(args.grid)
    out = args.out or data.get("out") or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    console = Console()

    def done(name: str, error: str | None) -> None:
        console.log(f"{name}: " + ("done" if error is None else f"[red]failed[/red]: {error}"))

    outcome = sweep({k: v for k, v in data.items() if k != "out"}, grid, out, jobs=args.jobs,
                    launcher=args.launcher, on_done=done)
    console.print(f"sweep {outcome.root}: {len(outcome.ran)} run, {len(outcome.skipped)} already finished "
                  f"(skipped), {len(outcome.failed)} failed")
    if len(outcome.ran) + len(outcome.skipped):
        for table in terminal_tables(group(find_runs([outcome.root]))):
            console.print(table)
        console.print(f"plots and HTML: retain report {outcome.root}")
    if outcome.failed:
        for name, error in outcome.failed.items():
            print(f"retain: error: sweep point {name} failed: {error}", file=sys.stderr)
        print(f"retain: re-run the same command to retry the {len(outcome.failed)} failed point(s)", file=sys.stderr)
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from retain.runs.pages import write_report

    write_report(args.folders, args.out)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from retain.algorithms import ALGORITHMS
    from retain.models import BACKBONES
    from retain.scenarios import BENCHMARKS

    console = Console()
    table = Table(title="benchmarks")
    for header in ("name", "default tasks", "default scenario", "description"):
        table.add_column(header)
    for name, spec in BENCHMARKS.items():
        table.add_row(name, str(spec.default_tasks), spec.default_scenario, spec.description)
    console.print(table)
    for title, registry in (("backbones", BACKBONES), ("algorithms", ALGORITHMS)):
        table = Table(title=title)
        table.add_column("name")
        table.add_column("description")
        for name, cls in registry.items():
            table.add_row(name, (cls.__doc__ or "").strip().splitlines()[0])
        console.print(table)
    return 0


COMMANDS = {"run": _cmd_run, "compare": _cmd_compare, "sweep": _cmd_sweep, "report": _cmd_report, "list": _cmd_list}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except RetainError as err:
        if getattr(args, "debug", False):
            raise
        print(f"retain: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("retain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
