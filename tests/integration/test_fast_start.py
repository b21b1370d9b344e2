"""`retain --help` and config errors answer before torch is imported; a Ctrl-C at any moment is one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

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


def test_import_retain_does_not_import_torch_until_a_name_needs_it():
    code = "import sys, retain; a = 'torch' in sys.modules; retain.run; print(a, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "True"], proc.stderr


def test_ctrl_c_while_torch_is_imported_prints_one_line(tmp_path):
    """`-X importtime` reports each import as it ends: SIGINT is sent as soon as the CLI module is
    loaded, so it lands while the command imports torch (seconds), not in the interpreter's start."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-X", "importtime", "-m", "retain", "run", "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.rstrip().endswith("| retain.cli"):
            break
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    said = [ln for ln in lines + rest.splitlines() if ln.strip() and not ln.startswith("import time:")]
    assert proc.returncode in (130, 128 + signal.SIGINT), said
    assert len(said) == 1 and said[0].startswith("retain:"), said


def test_a_sweep_may_leave_a_swept_key_invalid_in_its_base(tmp_path):
    """`benchmark.name=custom` needs a `benchmark.path`, which the grid gives each point: the base alone
    is not refused, and each point is checked (here the files do not exist: the sweep reports them)."""
    args = ["sweep", "--set", "benchmark.name=custom", "--grid", "benchmark.path=a.npz,b.npz"]
    proc = _probe(*args, "--out", str(tmp_path / "sweep"))
    assert "benchmark.path = None" not in proc.stderr, proc.stderr
