"""Measure the figures of docs/reliability.md ("The chaos tier") from the chaos cases:

    PYTHONPATH=src OMP_NUM_THREADS=1 python tests/chaos/figures.py [--trials 4] [--kills 6] [--seed 0]

writers in one folder (corrupted / trials), links planted (writes outside), YAML bombs (seconds to refuse
and peak memory of the reading process), malformed inputs (one-line errors / total), kills survived
(identical / total). CPU only; a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from retain.cli import main  # noqa: E402
from tests.chaos.cases import CASES, CORPUS, FAST  # noqa: E402
from tests.chaos.helpers import SRC, finish, results, snapshot, start  # noqa: E402
from tests.chaos.test_links_and_kills import KILL_RUN, LINKS  # noqa: E402

BOMBS = ("alias_bomb.yaml", "alias_bomb_wide.yaml", "recursive.yaml", "recursive_map.yaml", "deep.yaml")
READ = (
    "import resource, sys, time; from retain.config import read_config_data; t = time.perf_counter()\n"
    "try: read_config_data(sys.argv[1])\nexcept Exception as e: print(type(e).__name__, end=' ')\n"
    "print(f'{time.perf_counter() - t:.4f}', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
)


def quiet(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def writers(tmp: Path, trials: int) -> str:
    args = [*FAST, "--set", "train.epochs=3"]
    refs = {seed: tmp / f"ref{seed}" for seed in (1, 2)}
    for seed, out in refs.items():
        quiet(["run", *args, "--set", f"seed={seed}", "--out", str(out)])
    corrupted = 0
    for trial in range(trials):
        out = tmp / f"writers{trial}"
        outcomes = [finish(p) for p in [start("run", *args, "--set", f"seed={s}", "--out", str(out)) for s in (1, 2)]]
        winners = [s for s, (code, _) in zip((1, 2), outcomes) if code == 0]
        corrupted += len(winners) != 1 or results(out) != results(refs[winners[0]])
    return f"writers in one folder: {corrupted} corrupted of {trials} trials (two `retain run --out SAME` at once)"


def links(tmp: Path) -> str:
    killed = tmp / "killed"
    finish(start("run", *KILL_RUN, "--out", str(killed), kill_at="2.2.0"))
    outside_writes, refused = 0, 0
    for name in LINKS:
        folder, outside = tmp / f"link-{name.replace('/', '-')}", tmp / f"outside-{name.replace('/', '-')}"
        shutil.copytree(killed, folder)
        outside.mkdir()
        (outside / "victim").write_text("x" * 100_000)
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
            target.symlink_to(outside, target_is_directory=True)
        else:
            target.unlink(missing_ok=True)
            target.symlink_to(outside / "victim")
        before = snapshot(outside)
        refused += (
            quiet(["run", "--resume", str(folder), "--set", "train.optimizer.lr=0.05", "--force", "--quiet"]) == 2
        )
        outside_writes += snapshot(outside) != before
    return f"links planted: {outside_writes} writes outside of {len(LINKS)} links ({refused} resumes refused)"


def bombs() -> list[str]:
    env = {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    base = subprocess.run([sys.executable, "-c", READ, "/dev/null"], capture_output=True, text=True, env=env)
    base_mb = int(base.stdout.split()[-1])
    lines = [f"YAML bombs: reading an empty config peaks at {base_mb} MB (the interpreter and retain's imports)"]
    for name in BOMBS:
        proc = subprocess.run([sys.executable, "-c", READ, str(CORPUS / "configs" / name)], capture_output=True,
                              text=True, env=env, timeout=60)  # fmt: skip
        error, seconds, mb = proc.stdout.split()
        lines.append(
            f"  {name} ({(CORPUS / 'configs' / name).stat().st_size} bytes): {error} in {float(seconds):.3f} s, peak {mb} MB (+{int(mb) - base_mb} MB)"
        )
    return lines


def malformed(tmp: Path) -> str:
    finished = tmp / "finished"
    quiet(["run", *FAST, "--set", "unlearning.method=amnesiac", "--out", str(finished)])
    one_line = 0
    for name, case in sorted(CASES.items()):
        folder = tmp / "cases" / name.replace("/", "-")
        folder.mkdir(parents=True)
        argv, phrase = case(folder, finished)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except BaseException:  # noqa: BLE001 - a traceback counts as a miss
                code = -1
        text = err.getvalue().strip()
        ok = code == 2 and len(text.splitlines()) == 1 and text.startswith("retain: error: ") and phrase in text
        one_line += ok
        if not ok:
            print(f"  miss: {name}: {text[:200]}")
    return f"malformed inputs: {one_line} one-line errors of {len(CASES)}"


def kills(tmp: Path, count: int, seed: int) -> str:
    reference = tmp / "uninterrupted"
    quiet(["run", *KILL_RUN, "--out", str(reference)])
    rng, identical = random.Random(seed), 0
    for i in range(count):
        point = f"{rng.randint(1, 2)}.{rng.randint(1, 2)}.{rng.randint(0, 5)}:KILL"
        out = tmp / f"kill{i}"
        code, _ = finish(start("run", *KILL_RUN, "--out", str(out), kill_at=point))
        resumed = code == -signal.SIGKILL and quiet(["run", "--resume", str(out), "--quiet"]) == 0
        identical += resumed and results(out) == results(reference)
    return f"kills survived: {identical} identical of {count} (SIGKILL at random steps, seed {seed})"


def main_figures() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start_time = time.perf_counter()
        for line in bombs():
            print(line, flush=True)
        print(malformed(root / "m"), flush=True)
        print(links(root / "l"), flush=True)
        print(writers(root / "w", args.trials), flush=True)
        print(kills(root / "k", args.kills, args.seed), flush=True)
        print(f"({time.perf_counter() - start_time:.0f} s)")


if __name__ == "__main__":
    main_figures()
