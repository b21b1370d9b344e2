"""`retain --help`, `retain list` and config errors (registry names too) answer before torch is imported; a
Ctrl-C at any moment is one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retain import catalogue
from retain.catalogue import names

PROBE = """
import sys
from retain.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print("TORCH_LOADED" if "torch" in sys.modules else "TORCH_NOT_LOADED", code)
"""


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["sweep", "--help"]])
def test_help_does_not_import_torch(args):
    proc = _probe(*args)
    assert "usage: retain" in proc.stdout
    assert "TORCH_NOT_LOADED 0" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_a_config_error_is_reported_before_torch_is_imported(command):
    proc = _probe(command, "--set", "train.epochz=1", "--set", "seed=x")
    assert "TORCH_NOT_LOADED 2" in proc.stdout, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "train.epochz" in line and "seed = 'x'" in line  # both problems, one line


@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_an_unknown_name_is_reported_before_torch_is_imported(command):
    """Registry names are checked against `retain.catalogue`; `compare` replaces `algorithm.name` by each
    of its `--algorithms`, so it leaves that one alone."""
    proc = _probe(command, "--set", "backbone.name=mpl", "--set", "algorithm.name=lwff")
    assert "TORCH_NOT_LOADED 2" in proc.stdout, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "backbone.name = 'mpl'" in line and "did you mean 'mlp'" in line
    assert ("algorithm.name = 'lwff'" in line) == (command != "compare"), line


@pytest.mark.parametrize("algorithms", ["finetuning,lwff", "lwf,lwf"])
def test_a_bad_list_of_algorithms_to_compare_is_reported_before_torch_is_imported(algorithms):
    proc = _probe("compare", "--algorithms", algorithms)
    assert "TORCH_NOT_LOADED 2" in proc.stdout, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and f"--algorithms = '{algorithms}'" in line and "distinct names" in line, line
    assert ("did you mean 'lwf'" in line) == ("lwff" in algorithms), line


def test_a_bad_sweep_grid_is_reported_before_torch_is_imported():
    proc = _probe("sweep", "--grid", "algorithm.name=lwf,lwff", "--grid", "backbone.name=mpl", "--grid", "seed=1,2")
    assert "TORCH_NOT_LOADED 2" in proc.stdout, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "--grid algorithm.name = 'lwff'" in line and "--grid backbone.name = 'mpl'" in line
    assert line.count("is not valid") == 2, line  # lwf and the seeds are fine
    proc = _probe("sweep", "--grid", "seed")  # malformed: no values
    assert "TORCH_NOT_LOADED 2" in proc.stdout and "expected KEY=V1,V2" in proc.stderr, proc.stdout + proc.stderr


def test_list_names_every_registered_component_before_torch_is_imported():
    proc = _probe("list")
    assert "TORCH_NOT_LOADED 0" in proc.stdout, proc.stdout + proc.stderr
    listed = [*names(catalogue.BENCHMARKS), *names(catalogue.BACKBONES), *names(catalogue.ALGORITHMS)]
    assert [name for name in listed if name not in proc.stdout] == []


def test_import_retain_does_not_import_torch_until_a_name_needs_it():
    code = "import sys, retain; a = 'torch' in sys.modules; retain.run; print(a, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "True"], proc.stderr


def _interrupted_after_cli_import(delay: float, out: Path) -> tuple[int, list[str]]:
    """`python -m retain run`, sent SIGINT `delay` seconds after `retain.cli` is loaded (`-X importtime`
    reports each import as it ends): its exit code and what it said, import times left out."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-X", "importtime", "-m", "retain", "run", "--out", str(out)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.rstrip().endswith("| retain.cli"):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    return proc.returncode, [ln for ln in lines + rest.splitlines() if ln.strip() and not ln.startswith("import time:")]


def test_ctrl_c_at_any_moment_of_the_start_prints_one_line(tmp_path):
    """Right after `retain.cli` loads (the arguments are parsed), while the config modules load (their
    dataclasses build methods with `exec`), and while torch is imported: one line, exit code 130."""
    for i, delay in enumerate((0.0, 0.02, 0.04, 0.3)):
        code, said = _interrupted_after_cli_import(delay, tmp_path / f"run{i}")
        assert code == 130 and said == ["retain: interrupted"], (delay, code, said)


ENTRY_PROBES = {
    # a Ctrl-C while `retain.cli` itself is imported
    "import": """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "retain.cli":
            raise KeyboardInterrupt

sys.meta_path.insert(0, Interrupt())
""",
    # a Ctrl-C inside an `exec` of a string (a dataclass being built): CPython remembers it escaped
    "exec": """
import retain.cli

def interrupted_in_exec(argv=None):
    exec("raise KeyboardInterrupt")

retain.cli.main = interrupted_in_exec
""",
}


@pytest.mark.parametrize("where", sorted(ENTRY_PROBES))
def test_a_keyboard_interrupt_anywhere_is_one_line_and_exit_code_130(tmp_path, where):
    """The same moments as above, made exact: a module run with `python -m` (as `python -m retain` is)
    raises KeyboardInterrupt there and calls the entry point `retain.__main__.main`."""
    probe = ENTRY_PROBES[where] + "\nimport retain.__main__\nraise SystemExit(retain.__main__.main())\n"
    (tmp_path / "interrupt_probe.py").write_text(probe)
    proc = subprocess.run(
        [sys.executable, "-m", "interrupt_probe", "list"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert (proc.returncode, proc.stderr.splitlines()) == (130, ["retain: interrupted"]), proc.stderr


def test_a_sweep_may_leave_a_swept_key_invalid_in_its_base(tmp_path):
    """`benchmark.name=custom` needs a `benchmark.path`, which the grid gives each point: the base alone
    is not refused, and each point is checked (here the files do not exist: the sweep reports them)."""
    args = ["sweep", "--set", "benchmark.name=custom", "--grid", "benchmark.path=a.npz,b.npz"]
    proc = _probe(*args, "--out", str(tmp_path / "sweep"))
    assert "benchmark.path = None" not in proc.stderr, proc.stderr


def test_main_reports_a_ctrl_c_while_it_parses_the_arguments(monkeypatch, capsys):
    """`retain.cli.main` called on its own (as tests and scripts do) catches it too."""
    import retain.cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(retain.cli, "parser", interrupted)
    try:
        code = retain.cli.main(["list"])
    except KeyboardInterrupt:
        pytest.fail("main let the KeyboardInterrupt through")  # (pytest itself would stop at it)
    assert code == 130
    assert capsys.readouterr().err == "retain: interrupted\n"
