"""A small mutation-testing runner for retain (docs/mutation.md).

Each mutant of `benchmarks/mutants.py` replaces one exact snippet of `src/retain/<file>` with a buggy
version, in a temporary copy of `src/` (the real `src/` is never touched), and runs the module's tests
against the copy:

    python -m pytest -x -q -p no:cacheprovider <tests>    PYTHONPATH=<tmp>/src:<repo>  OMP_NUM_THREADS=1

A mutant is *killed* when the tests fail (or run past the timeout: `timeout`, counted as killed),
*survived* when they pass. The unmutated copy must pass the same tests first (a baseline per distinct set
of test paths; a set whose paths all belong to a larger set that passes is taken as passing); where it
does not, the mutant is reported as `baseline fails`, not killed.

    python benchmarks/mutation.py --out benchmarks/results/mutation.json --markdown
    python benchmarks/mutation.py --only heads-cil-eval-own,amnesiac-delete-first-only
    python benchmarks/mutation.py --check                     # validate the list only, run nothing
    python benchmarks/mutation.py --from-json FILE --markdown  # the table of an earlier run

Kill rate = killed (timeouts included) / (mutants run − equivalent). Mutants marked `equivalent` are
still run by default, to check the claim: one that is killed is flagged (its reason is wrong).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MUTANTS = Path(__file__).resolve().parent / "mutants.py"
PACKAGE = "retain"
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
TAIL = 3000  # characters of pytest output kept per run in the results

KILLED, SURVIVED, TIMEOUT, EQUIVALENT, BASELINE_FAILS, ERROR = (
    "killed",
    "survived",
    "timeout",
    "equivalent",
    "baseline fails",
    "error",
)


class MutantListError(Exception):
    """The mutant list does not match the code (a stale snippet, an unknown file, no tests ...)."""


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to src/<package>/
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...] = ()
    equivalent: str | None = None


@dataclass
class Outcome:
    """One pytest run: `passed`, `failed`, `timeout` or `error` (pytest could not run the tests)."""

    verdict: str
    returncode: int | None
    seconds: float
    first_failure: str | None = None
    tail: str = ""
    covered_by: tuple[str, ...] | None = None  # a baseline: passed as part of this larger test set


@dataclass
class Result:
    id: str
    file: str
    description: str
    status: str
    tests: list[str]
    seconds: float = 0.0
    killing_test: str | None = None
    equivalent: str | None = None
    equivalent_check: str | None = None  # for an equivalent mutant that was run: "survived" or "killed"
    outcome: str | None = None  # what the tests said (killed / survived / timeout / error), before any mark
    note: str | None = None
    tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- list


def load_list(path: Path = DEFAULT_MUTANTS) -> tuple[list[dict], dict[str, list[str]]]:
    """`MUTANTS` and `TESTS` of a mutant list file (a Python module)."""
    spec = importlib.util.spec_from_file_location("_retain_mutants", path)
    if spec is None or spec.loader is None:
        raise MutantListError(f"cannot read the mutant list {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MUTANTS), dict(getattr(module, "TESTS", {}))


def existing_tests(paths: tuple[str, ...] | list[str], root: Path) -> tuple[str, ...]:
    """`paths` without those that do not exist under `root` (e.g. a test tier not written yet), in order."""
    seen: list[str] = []
    for p in paths:
        if (root / p).exists() and p not in seen:
            seen.append(p)
    return tuple(seen)


def build_mutants(
    entries: list[dict], tests: dict[str, list[str]], root: Path = ROOT, package: str = PACKAGE
) -> list[Mutant]:
    """Check every entry against the code and return the mutants, or raise `MutantListError` naming the
    first bad one: an unknown key, a duplicate id, a missing file, a snippet that does not occur exactly
    once (the list went stale), a replacement equal to the snippet, or no existing test path."""
    allowed = {"id", "file", "original", "replacement", "description", "tests", "equivalent"}
    mutants, ids = [], set()
    for n, entry in enumerate(entries):
        mid = entry.get("id", f"#{n + 1}")
        unknown = set(entry) - allowed
        if unknown:
            raise MutantListError(f"mutant {mid}: unknown keys {sorted(unknown)}")
        missing = [k for k in ("id", "file", "original", "replacement", "description") if not entry.get(k)]
        if missing:
            raise MutantListError(f"mutant {mid}: missing {', '.join(missing)}")
        if mid in ids:
            raise MutantListError(f"mutant {mid}: duplicate id")
        ids.add(mid)
        path = root / "src" / package / entry["file"]
        if not path.is_file():
            raise MutantListError(f"mutant {mid}: no file src/{package}/{entry['file']}")
        count = path.read_text().count(entry["original"])
        if count != 1:
            raise MutantListError(
                f"mutant {mid}: its original snippet occurs {count} times in src/{package}/{entry['file']} "
                f"(expected exactly once): the mutant list went stale; update the snippet\n"
                f"  snippet: {entry['original']!r}"
            )
        if entry["replacement"] == entry["original"]:
            raise MutantListError(f"mutant {mid}: the replacement equals the original snippet")
        paths = tuple(entry.get("tests") or tests.get(entry["file"], ()))
        if not paths:
            raise MutantListError(f"mutant {mid}: no tests mapped for {entry['file']} (add it to TESTS)")
        run = existing_tests(paths, root)
        if not run:
            raise MutantListError(f"mutant {mid}: none of its test paths exist: {list(paths)}")
        mutants.append(
            Mutant(
                mid,
                entry["file"],
                entry["original"],
                entry["replacement"],
                entry["description"],
                run,
                entry.get("equivalent"),
            )
        )
    return mutants


# --------------------------------------------------------------------------------------------- running


def copy_source(root: Path, dest: Path) -> Path:
    """Copy `root/src` to `dest/src` (without bytecode caches) and return the copy."""
    target = dest / "src"
    shutil.copytree(root / "src", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return target


def apply_mutant(mutant: Mutant, src: Path, package: str = PACKAGE) -> Path:
    """Apply `mutant` to the copy `src` (a `src/` folder) and return the mutated file."""
    path = src / package / mutant.file
    text = path.read_text()
    if text.count(mutant.original) != 1:
        raise MutantListError(f"mutant {mutant.id}: its original snippet does not occur exactly once in the copy")
    path.write_text(text.replace(mutant.original, mutant.replacement))
    return path


# a test id may hold spaces inside its parameter brackets: `FAILED t.py::test[{2: [3]}] - assert ...`
FAILURE = re.compile(r"^(?:FAILED|ERROR) (\S*?\[.*?\](?= - |$)|\S+)", re.MULTILINE)


def first_failure(output: str) -> str | None:
    """The first failing test id of pytest's short summary (`FAILED path::test - ...`), if any."""
    match = FAILURE.search(output)
    return match.group(1) if match else None


_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


def run_pytest(src: Path, tests: tuple[str, ...], root: Path, timeout: float) -> Outcome:
    """pytest on `tests` (from `root`) with the package imported from `src`; the whole process group is
    killed at the timeout."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{src}{os.pathsep}{root}",
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            [sys.executable, *PYTEST, *tests],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with _running_lock:
            _running.add(proc)
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill(proc)
            timed_out = True
        finally:
            with _running_lock:
                _running.discard(proc)
        log.seek(0)
        output = log.read()
    seconds = time.perf_counter() - start
    tail = output[-TAIL:]
    if timed_out:
        return Outcome("timeout", None, seconds, first_failure(output), tail)
    rc = proc.returncode
    # 0: all passed; 1: some failed; 2: interrupted (e.g. a collection error: the mutant broke an import)
    verdict = {0: "passed", 1: "failed", 2: "failed"}.get(rc, "error")
    return Outcome(verdict, rc, seconds, first_failure(output), tail)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def kill_running() -> None:
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        _kill(proc)


def baseline_plan(sets: list[tuple[str, ...]]) -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], tuple[str, ...]]]:
    """The test sets whose baseline must run (those inside no other set) and, for every other set, a
    larger one holding all its paths: when that one passes, so does the smaller one."""
    maximal = [s for s in sets if not any(set(s) < set(o) for o in sets)]
    covered = {s: next(o for o in maximal if set(s) <= set(o)) for s in sets if s not in maximal}
    return maximal, covered


def run_copy(
    mutant: Mutant | None, tests: tuple[str, ...], root: Path, timeout: float, package: str = PACKAGE
) -> Outcome:
    """Copy `src/`, apply `mutant` (None: the baseline), run the tests, remove the copy."""
    with tempfile.TemporaryDirectory(prefix="retain-mutant-") as tmp:
        src = copy_source(root, Path(tmp))
        if mutant is not None:
            apply_mutant(mutant, src, package)
        return run_pytest(src, tests, root, timeout)


def classify(mutant: Mutant, outcome: Outcome) -> Result:
    """The result of a mutant from its pytest outcome."""
    status = {"failed": KILLED, "timeout": TIMEOUT, "passed": SURVIVED}.get(outcome.verdict, ERROR)
    result = Result(
        mutant.id,
        mutant.file,
        mutant.description,
        status,
        list(mutant.tests),
        round(outcome.seconds, 1),
        outcome.first_failure if status in (KILLED, TIMEOUT) else None,
        mutant.equivalent,
        outcome=status,
    )
    if status == ERROR:
        result.note = f"pytest exited with code {outcome.returncode}"
    if status in (SURVIVED, TIMEOUT, ERROR):
        result.tail = outcome.tail
    if mutant.equivalent is not None and status in (KILLED, TIMEOUT, SURVIVED):
        result.equivalent_check = "survived" if status == SURVIVED else "killed"
        if status != SURVIVED:
            result.note = "marked equivalent but the tests kill it: the equivalence reason is wrong"
        result.status = EQUIVALENT
    return result


def rescore(results: list[dict[str, Any]], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results of an earlier run with the descriptions and `equivalent` marks of the current list, so that
    judging a survivor equivalent (or withdrawing a wrong mark) needs no rerun."""
    marks = {e["id"]: e.get("equivalent") for e in entries}
    descriptions = {e["id"]: e.get("description") for e in entries}
    out = []
    for r in results:
        r = dict(r)
        r["description"] = descriptions.get(r["id"]) or r["description"]
        outcome = r.get("outcome") or (
            r["status"]
            if r["status"] != EQUIVALENT
            else {"survived": SURVIVED, "killed": KILLED}.get(r.get("equivalent_check"))
        )
        if r["id"] in marks and outcome in (KILLED, TIMEOUT, SURVIVED, ERROR):
            reason = marks[r["id"]]
            r["equivalent"] = reason
            if reason is not None and outcome != ERROR:
                r["status"], r["equivalent_check"] = EQUIVALENT, ("survived" if outcome == SURVIVED else "killed")
            else:
                r["status"], r["equivalent_check"] = outcome, None
            r["outcome"] = outcome
        out.append(r)
    return out


def summarise(results: list[Result] | list[dict[str, Any]]) -> dict[str, Any]:
    results = [mutation_result(r) for r in results]
    counts = {
        s: sum(r.status == s for r in results) for s in (KILLED, TIMEOUT, SURVIVED, EQUIVALENT, BASELINE_FAILS, ERROR)
    }
    counted = len(results) - counts[EQUIVALENT]
    killed = counts[KILLED] + counts[TIMEOUT]
    return {
        "total": len(results),
        **{k.replace(" ", "_"): v for k, v in counts.items()},
        "kill_rate": killed / counted if counted else None,
        "survivors": [r.id for r in results if r.status == SURVIVED],
        "equivalent_but_killed": [r.id for r in results if r.status == EQUIVALENT and r.equivalent_check == "killed"],
    }


def mutation_result(r: Result | dict[str, Any]) -> Result:
    if isinstance(r, Result):
        return r
    return Result(**{k: v for k, v in r.items() if k in Result.__dataclass_fields__})


def summary_line(summary: dict[str, Any]) -> str:
    counted = summary["total"] - summary["equivalent"]
    killed = summary["killed"] + summary["timeout"]
    rate = "n/a" if summary["kill_rate"] is None else f"{100 * summary['kill_rate']:.1f}%"
    line = (
        f"kill rate: {killed}/{counted} = {rate} (killed {summary['killed']}, timeout {summary['timeout']}, "
        f"survived {summary['survived']}; equivalent {summary['equivalent']} not counted"
    )
    if summary["baseline_fails"]:
        line += f"; baseline fails {summary['baseline_fails']}"
    if summary["error"]:
        line += f"; errors {summary['error']}"
    if summary["equivalent_but_killed"]:
        line += f"; marked equivalent but killed: {', '.join(summary['equivalent_but_killed'])}"
    return line + ")"


def markdown_table(results: list[dict[str, Any]] | list[Result]) -> str:
    rows = [asdict(r) if isinstance(r, Result) else r for r in results]
    lines = ["| id | file | description | status | killing test |", "|---|---|---|---|---|"]
    for r in rows:
        status = r["status"]
        if status == EQUIVALENT and r.get("equivalent_check") == "killed":
            status = "equivalent (but killed!)"
        test = f"`{r['killing_test']}`" if r.get("killing_test") else ""
        cells = [f"`{r['id']}`", f"`{r['file']}`", r["description"], status, test]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + (" (src modified)" if dirty.stdout.strip() else "") if out.returncode == 0 else None


class Session:
    """One run of the list: baselines first (one per distinct test set), then the mutants, results
    written to `out` (atomically) after each one."""

    def __init__(
        self,
        mutants: list[Mutant],
        root: Path,
        jobs: int,
        timeout: float | None,
        baseline_timeout: float,
        out: Path | None,
        log=print,
        package: str = PACKAGE,
    ) -> None:
        self.mutants, self.root, self.jobs, self.timeout = mutants, root, max(1, jobs), timeout
        self.baseline_timeout, self.out, self.log, self.package = baseline_timeout, out, log, package
        self.baselines: dict[tuple[str, ...], Outcome] = {}
        self.results: dict[str, Result] = {}
        self.lock = threading.Lock()
        self.started = time.time()
        self.meta = {
            "commit": git_commit(root),
            "python": sys.version.split()[0],
            "jobs": self.jobs,
            "timeout": timeout,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def run(self) -> list[Result]:
        sets = list(dict.fromkeys(m.tests for m in self.mutants))
        maximal, covered = baseline_plan(sets)
        self.log(
            f"{len(self.mutants)} mutants, {len(sets)} distinct test sets ({len(maximal)} baselines to run), "
            f"{self.jobs} job(s)"
        )
        try:
            with ThreadPoolExecutor(self.jobs) as pool:
                for tests, outcome in zip(maximal, pool.map(self._baseline, maximal)):
                    self.baselines[tests] = outcome
                rerun = []
                for tests, larger in covered.items():
                    big = self.baselines[larger]
                    if big.verdict == "passed":
                        self.baselines[tests] = Outcome("passed", 0, big.seconds, covered_by=larger)
                    else:  # the larger set fails: this one may still pass
                        rerun.append(tests)
                for tests, outcome in zip(rerun, pool.map(self._baseline, rerun)):
                    self.baselines[tests] = outcome
                self._save()
                list(pool.map(self._mutant, self.mutants))
        except KeyboardInterrupt:
            kill_running()
            raise
        finally:
            self._save()
        return self.ordered()

    def ordered(self) -> list[Result]:
        return [self.results[m.id] for m in self.mutants if m.id in self.results]

    def _baseline(self, tests: tuple[str, ...]) -> Outcome:
        outcome = run_copy(None, tests, self.root, self.baseline_timeout, self.package)
        what = {"passed": "passes", "failed": "FAILS", "timeout": "TIMES OUT", "error": "ERROR"}[outcome.verdict]
        self.log(
            f"baseline {what} in {outcome.seconds:.0f}s: {' '.join(tests)}"
            + (f" (first failure {outcome.first_failure})" if outcome.first_failure else "")
        )
        return outcome

    def _timeout_for(self, baseline: Outcome) -> float:
        return self.timeout if self.timeout is not None else max(60.0, 2 * baseline.seconds + 30)

    def _mutant(self, mutant: Mutant) -> None:
        baseline = self.baselines[mutant.tests]
        if baseline.verdict != "passed":
            result = Result(
                mutant.id,
                mutant.file,
                mutant.description,
                BASELINE_FAILS,
                list(mutant.tests),
                equivalent=mutant.equivalent,
                note=f"the unmutated code {baseline.verdict} these tests (first failure {baseline.first_failure})",
            )
        else:
            result = classify(
                mutant, run_copy(mutant, mutant.tests, self.root, self._timeout_for(baseline), self.package)
            )
        with self.lock:
            self.results[mutant.id] = result
            done = len(self.results)
            self._save()
        test = f" by {result.killing_test}" if result.killing_test else ""
        extra = f" [{result.note}]" if result.note else ""
        self.log(f"[{done}/{len(self.mutants)}] {mutant.id}: {result.status}{test} ({result.seconds:.0f}s){extra}")

    def data(self) -> dict[str, Any]:
        results = self.ordered()
        return {
            "meta": {
                **self.meta,
                "elapsed_seconds": round(time.time() - self.started, 1),
                "finished": len(results) == len(self.mutants),
            },
            "summary": summarise(results),
            "baselines": [
                {
                    "tests": list(t),
                    "verdict": o.verdict,
                    "seconds": round(o.seconds, 1),
                    "first_failure": o.first_failure,
                    **({"covered_by": list(o.covered_by)} if o.covered_by else {}),
                    **({"tail": o.tail} if o.verdict != "passed" else {}),
                }
                for t, o in self.baselines.items()
            ],
            "results": [asdict(r) for r in results],
        }

    def _save(self) -> None:
        if self.out is not None:
            write_json_atomic(self.out, self.data())


# --------------------------------------------------------------------------------------------- cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mutants", type=Path, default=DEFAULT_MUTANTS, help="the mutant list (default: benchmarks/mutants.py)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="mutants run in parallel (default 1)")
    parser.add_argument("--only", help="comma-separated mutant ids")
    parser.add_argument("--out", type=Path, help="results JSON, rewritten atomically after each mutant")
    parser.add_argument("--markdown", action="store_true", help="print the results as a Markdown table")
    parser.add_argument(
        "--timeout", type=float, help="seconds per mutant (default: 2 x its baseline + 30, at least 60)"
    )
    parser.add_argument("--baseline-timeout", type=float, default=1200.0, help="seconds per baseline (default 1200)")
    parser.add_argument("--skip-equivalent", action="store_true", help="do not run the mutants marked equivalent")
    parser.add_argument("--check", action="store_true", help="validate the list against the code and exit")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="print the summary (and --markdown table) of an earlier run, with the current list's equivalent marks",
    )
    args = parser.parse_args(argv)

    if args.from_json:
        data = json.loads(args.from_json.read_text())
        results = data["results"]
        try:  # re-apply the current list's equivalent marks
            entries, _ = load_list(args.mutants)
            results = rescore(results, entries)
        except (MutantListError, OSError, AttributeError) as err:
            print(f"warning: results shown with the marks of the run ({err})", file=sys.stderr)
        if args.only:
            wanted = {s.strip() for s in args.only.split(",")}
            results = [r for r in results if r["id"] in wanted]
        if args.markdown:
            print(markdown_table(results))
        print(summary_line(summarise(results)))
        return 0
    try:
        entries, tests = load_list(args.mutants)
        mutants = build_mutants(entries, tests)
    except MutantListError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in {m.id for m in mutants}]
        if unknown:
            print(f"error: --only names unknown mutants: {', '.join(unknown)}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in wanted]
    if args.skip_equivalent:
        mutants = [m for m in mutants if m.equivalent is None]
    if args.check:
        print(
            f"{len(mutants)} mutants: every snippet occurs exactly once; "
            f"{sum(m.equivalent is not None for m in mutants)} marked equivalent"
        )
        return 0
    session = Session(
        mutants, ROOT, args.jobs, args.timeout, args.baseline_timeout, args.out, log=lambda s: print(s, flush=True)
    )
    try:
        results = session.run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.markdown:
        print(markdown_table(results))
    summary = summarise(results)
    print(summary_line(summary))
    print(f"elapsed: {time.time() - session.started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
