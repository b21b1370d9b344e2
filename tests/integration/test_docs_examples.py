"""Every bash and python block of README.md and docs/quickstart.md, run top to bottom in one fresh folder.

This is what a new user does on a fresh clone, command after command, so the examples cannot collide
(two examples writing the same run folder) or go stale (a renamed key, a removed flag). The only
changes made to what the documents say: `retain` runs as `python -m retain` from this checkout, the
training commands get `train.epochs=1` (and two tasks on Fashion-MNIST) so that the test takes minutes
rather than an hour, and `pip`, `pre-commit`, `pytest` and `mkdocs` lines are not run (they install or
test, they do not use retain). It needs the Fashion-MNIST files that `dataset-fashion-mnist` installs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/quickstart.md")
NOT_RUN = ("pip", "pre-commit", "mkdocs", "torchrun")
TRAINING = ("run", "compare", "sweep")
FASHION = Path("/usr/share/datasets/fashion-mnist")


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of a Markdown text, in order: (language, body)."""
    return re.findall(r"^```(bash|python)\n(.*?)^```", text, flags=re.S | re.M)


def commands(body: str) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped, `&&` split."""
    joined = re.sub(r"\\\n\s*", " ", body)
    result = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            result.append(words[:cut])
            words = words[cut + 1 :]
    return [c for c in result if c]


def shortened(words: list[str]) -> list[str]:
    """A `retain` command as this test runs it: one epoch, and two tasks when it trains on Fashion-MNIST."""
    args = [sys.executable, "-m", "retain", *words[1:]]
    if words[1] in TRAINING and "--resume" not in words:
        args += ["--set", "train.epochs=1"]
        if any("fmnist" in word for word in words):
            args += ["--set", "benchmark.num_tasks=2"]
    return args


def steps() -> list[tuple[str, str, list[str] | str]]:
    """(document, language, command or code) for every step of the documents, in reading order."""
    found: list[tuple[str, str, list[str] | str]] = []
    for doc in DOCS:
        for language, body in blocks((ROOT / doc).read_text()):
            if language == "python":
                found.append((doc, language, body))
                continue
            for words in commands(body):
                if words[0] in NOT_RUN or words[:3] == ["python", "-m", "pytest"]:
                    continue
                found.append((doc, language, words))
    return found


def test_the_documents_have_runnable_steps():
    """The extraction finds the examples the documents are known to hold (a guard on the parser)."""
    found = steps()
    retain_commands = [s[2] for s in found if s[1] == "bash"]
    assert ["retain", "compare"] in retain_commands
    assert any(c[:2] == ["retain", "unlearn"] for c in retain_commands)
    assert sum(s[1] == "python" for s in found) == 2
    assert all(c[0] == "retain" for c in retain_commands), [c for c in retain_commands if c[0] != "retain"]


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
def test_every_example_runs_in_sequence_on_a_fresh_folder(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["COLUMNS"] = "200"
    for doc, language, step in steps():
        if language == "python":
            assert isinstance(step, str)
            code = step.replace("overrides=[", 'overrides=["train.epochs=1", ', 1)
            args = [sys.executable, "-c", code]
        else:
            assert isinstance(step, list)
            args = shortened(step)
        proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        shown = step if isinstance(step, str) else shlex.join(step)
        assert proc.returncode == 0, f"{doc}: `{shown}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
