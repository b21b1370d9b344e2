"""The `retain` command line: `run`, `compare` and `list`.

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
    sub.add_parser("list", help="list the registered benchmarks, backbones and algorithms")
    bench = sub.add_parser("bench", help="benchmark harnesses: `retain bench speed --help`")
    bench.add_argument("harness", choices=["speed"])
    bench.add_argument("options", nargs=argparse.REMAINDER, help="the harness's own options")
    unlearn = sub.add_parser("unlearn", help="unlearn tasks from a finished run, writing a new run folder")
    unlearn.add_argument("run_dir", type=Path, help="the finished run's folder (never modified)")
    unlearn.add_argument("--tasks", required=True, help="comma-separated task ids to unlearn, e.g. 2 or 2,3")
    unlearn.add_argument("--out", help="the new run folder (default: RUN_DIR-unlearned-TASKS)")
    unlearn.add_argument("--no-evaluate", action="store_true", help="skip the reference runs and AG/DD")
    unlearn.add_argument("--debug", action="store_true", help="show tracebacks")
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


def _cmd_list(args: argparse.Namespace) -> int:
    from retain.algorithms import ALGORITHMS
    from retain.models import BACKBONES
    from retain.scenarios import BENCHMARKS

    console = Console()
    table = Table(title="benchmarks")
    table.add_column("name", no_wrap=True, min_width=max(map(len, BENCHMARKS)))  # names are what users copy
    for header in ("construction", "tasks", "scenario", "description"):
        table.add_column(header)
    for name, spec in BENCHMARKS.items():
        table.add_row(name, spec.construction, str(spec.default_tasks), spec.default_scenario, spec.description)
    console.print(table)
    for title, registry in (("backbones", BACKBONES), ("algorithms", ALGORITHMS)):
        table = Table(title=title)
        table.add_column("name")
        table.add_column("description")
        for name, cls in registry.items():
            table.add_row(name, (cls.__doc__ or "").strip().splitlines()[0])
        console.print(table)
    return 0


def _cmd_unlearn(args: argparse.Namespace) -> int:
    from retain.errors import ConfigError
    from retain.unlearning.workflow import unlearn_run

    try:
        tasks = [int(t) for t in args.tasks.split(",") if t.strip()]
    except ValueError:
        raise ConfigError("--tasks", args.tasks, "comma-separated task ids, e.g. 2 or 2,3") from None
    if not tasks:
        raise ConfigError("--tasks", args.tasks, "at least one task id")
    unlearn_run(args.run_dir, tasks, out=args.out, evaluate=not args.no_evaluate)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from retain.bench.speed import main as speed

    return speed(args.options)


COMMANDS = {"bench": _cmd_bench, "run": _cmd_run, "compare": _cmd_compare, "list": _cmd_list, "unlearn": _cmd_unlearn}


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
