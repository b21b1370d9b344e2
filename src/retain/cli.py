"""The `retain` command line: `run`, `compare`, `sweep`, `report`, `list` and `schema`.

Any error retain raises on purpose (bad config, missing data, existing output folder) is printed as
one line on stderr with exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retain.cli_parser import parser
from retain.errors import ConfigError, RetainError, RunInterrupted

if TYPE_CHECKING:  # rich, like torch, is imported by the commands that use it: --help stays fast
    from rich.console import Console


def _raw_config(args: argparse.Namespace, swept: Sequence[str] = (), unused: Sequence[str] = ()) -> dict[str, Any]:
    """The config mapping of `--config` and `--set`, its keys, types, values and registry names checked
    before torch is imported (the names against `retain.catalogue`). An error about a key in `swept` (or
    its section) is left to the sweep, whose points each set a value for it; the names in `unused` are
    not checked (the command replaces them)."""
    from retain.catalogue import check_names
    from retain.config import parse_config, read_config_data

    data = read_config_data(args.config, args.overrides)
    try:
        check_names(parse_config(data), skip=unused)
    except ConfigError as err:
        keys = [e.key for e in (err, *err.more)]
        if not any(k == s or k.startswith(f"{s}.") or s.startswith(f"{k}.") for k in keys for s in swept):
            raise
    return data


KILL_AT_ENV = "RETAIN_TEST_KILL_AT"


def _test_kill_hook() -> Callable[[int, int, int], None] | None:
    """For tests only: `RETAIN_TEST_KILL_AT=TASK.EPOCH.STEP[:SIGNAL]` sends this process SIGNAL (`KILL`
    by default; `INT`, `TERM`) just before that step (1-based task and epoch, 0-based step), so a test
    can stop a run at an exact point. Read here, by the CLI, and nowhere else."""
    value = os.environ.get(KILL_AT_ENV)
    if not value:
        return None
    point, _, name = value.partition(":")
    try:
        target = tuple(int(part) for part in point.split("."))
        signum = getattr(signal, f"SIG{name or 'KILL'}")
    except (ValueError, AttributeError):
        raise ConfigError(KILL_AT_ENV, value, "TASK.EPOCH.STEP[:KILL|INT|TERM], e.g. 3.1.0:INT") from None

    def hook(task_id: int, epoch: int, step: int) -> None:
        if (task_id, epoch, step) == target:
            os.kill(os.getpid(), signum)

    return hook


def _cmd_run(args: argparse.Namespace) -> int:
    from retain.config import read_config_data

    data = None if args.resume is not None else _raw_config(args)  # schema errors before torch loads
    from retain.experiment.build import config_from_dict
    from retain.experiment.run import run

    if args.resume is None and args.force:
        raise ConfigError("--force", True, "only used with --resume")
    if args.resume is not None:
        if args.out is not None:
            raise ConfigError("--out", args.out, "not used with --resume: a resumed run continues in its own folder")
        changes = args.config is not None or bool(args.overrides)
        # --set applies on top of the run's saved config, unless --config names another base
        base = args.config if args.config is not None else args.resume / "config.yaml"
        cfg = config_from_dict(read_config_data(base, args.overrides)) if changes else None
        run(cfg, resume=args.resume, force=args.force, progress=not args.quiet, step_hook=_test_kill_hook())
        return 0
    assert data is not None
    cfg = config_from_dict(data)  # every error surfaces here, before any training
    run(cfg, out=args.out, progress=not args.quiet, step_hook=_test_kill_hook())
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    data = _raw_config(args, unused=["algorithm.name"])  # `--algorithms` names them
    names = [n.strip() for n in args.algorithms.split(",") if n.strip()] if args.algorithms else None
    if names is not None:
        from retain.catalogue import check_algorithm_list

        check_algorithm_list(names)  # before torch loads
    from retain.experiment.compare import compare

    compare(data, names, out=args.out)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from retain.catalogue import check_grid_names
    from retain.config.grid import parse_grid

    data = _raw_config(args, [item.partition("=")[0].strip() for item in args.grid])
    grid = parse_grid(args.grid)
    check_grid_names(grid)  # before torch loads
    from rich.console import Console

    from retain.experiment.sweep import sweep
    from retain.runs.collect import find_runs, group
    from retain.runs.pages import terminal_tables

    out = args.out or data.get("out") or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    console = Console()
    tally = _SweepTally(args.jobs, console)
    outcome = sweep(
        {k: v for k, v in data.items() if k != "out"},
        grid,
        out,
        jobs=args.jobs,
        launcher=args.launcher,
        on_done=tally.done,
        on_plan=tally.plan,
    )
    console.print(
        f"sweep {outcome.root}: {len(outcome.ran)} run, {len(outcome.skipped)} already finished "
        f"(skipped), {len(outcome.failed)} failed"
    )
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


class _SweepTally:
    """One line per finished sweep point: how many are done, running and left, and the time left."""

    def __init__(self, jobs: int, console: Console) -> None:
        self.jobs, self.console = jobs, console
        self.todo = self.finished = 0

    def plan(self, todo: int, skipped: int) -> None:
        import time

        self.todo, self.started = todo, time.perf_counter()
        self.console.log(f"sweep: {todo} point(s) to run, {skipped} already finished, {min(self.jobs, todo)} at once")

    def done(self, name: str, error: str | None) -> None:
        import time

        from retain.runs.loggers import clock

        self.finished += 1
        left = self.todo - self.finished
        running = min(self.jobs, left)
        eta = (time.perf_counter() - self.started) / self.finished * left
        what = "done" if error is None else f"[red]failed[/red]: {error}"
        self.console.log(
            f"[{self.finished}/{self.todo}] {name}: {what} ({running} running, {left - running} waiting, "
            f"{clock(eta)} left)"
        )


def _cmd_report(args: argparse.Namespace) -> int:
    from retain.runs.pages import write_report

    write_report(args.folders, args.out, formats=args.format, baseline=args.baseline)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from retain.experiment.json_schema import schema_text
    from retain.runs.store import atomic_write_text

    if args.out is None:
        sys.stdout.write(schema_text())
    else:
        atomic_write_text(args.out, schema_text())
        print(f"schema: {args.out}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from retain.catalogue import ALGORITHMS, BACKBONES, BENCHMARKS  # torch-free: the list answers at once

    console = Console()
    table = Table(title="benchmarks")
    width = max(len(b.name) for b in BENCHMARKS)
    table.add_column("name", no_wrap=True, min_width=width)  # names are what users copy
    for header in ("construction", "tasks", "scenario", "description"):
        table.add_column(header)
    for b in BENCHMARKS:
        table.add_row(b.name, b.construction, str(b.tasks), b.scenario, b.description)
    console.print(table)
    for title, entries in (("backbones", BACKBONES), ("algorithms", ALGORITHMS)):
        table = Table(title=title)
        table.add_column("name")
        table.add_column("description")
        for entry in entries:
            table.add_row(entry.name, entry.description)
        console.print(table)
    return 0


def _cmd_unlearn(args: argparse.Namespace) -> int:
    from retain.errors import ConfigError
    from retain.experiment.unlearn import unlearn_run

    try:
        tasks = [int(t) for t in args.tasks.split(",") if t.strip()]
    except ValueError:
        raise ConfigError("--tasks", args.tasks, "comma-separated task ids, e.g. 2 or 2,3") from None
    if not tasks:
        raise ConfigError("--tasks", args.tasks, "at least one task id")
    unlearn_run(args.run_dir, tasks, out=args.out, evaluate=not args.no_evaluate, method=args.method)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from retain.bench.speed import main as speed

    return speed(args.options)


COMMANDS = {
    "run": _cmd_run,
    "compare": _cmd_compare,
    "sweep": _cmd_sweep,
    "report": _cmd_report,
    "list": _cmd_list,
    "schema": _cmd_schema,
    "unlearn": _cmd_unlearn,
    "bench": _cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line (`sys.argv[1:]` by default) and return its exit code.

    The process entry point around it is `retain.__main__.main`, which also catches a Ctrl-C that comes
    before this function could."""
    args: argparse.Namespace | None = None
    try:
        args = parser().parse_args(argv)  # inside the try: a Ctrl-C while it parses is one line too
        return COMMANDS[args.command](args)
    except RunInterrupted as err:
        if getattr(args, "debug", False):
            raise
        print(f"retain: {err}", file=sys.stderr)
        return err.exit_code
    except RetainError as err:
        if getattr(args, "debug", False):
            raise
        print("retain: error: " + " ".join(str(err).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("retain: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as err:  # outside a run (a report, a listing): the path and the reason
        if getattr(args, "debug", False):
            raise
        where = f": {err.filename}" if isinstance(err, OSError) and err.filename else ""
        print(f"retain: error: {getattr(err, 'strerror', None) or type(err).__name__}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
