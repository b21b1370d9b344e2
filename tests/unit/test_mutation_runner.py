"""The mutation runner (benchmarks/mutation.py) on toy sources, and the shipped mutant list against the code.

Nothing here runs the project's suite: the one end-to-end check runs pytest on a two-line toy package.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


mutation = _load("mutation")

TOY = "def add(a, b):\n    return a + b\n\n\ndef double(a):\n    return 2 * a\n"
TOY_TEST = "from toy.ops import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def toy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "toy").mkdir(parents=True)
    (root / "src" / "toy" / "__init__.py").write_text("")
    (root / "src" / "toy" / "ops.py").write_text(TOY)
    (root / "tests").mkdir()
    (root / "tests" / "test_ops.py").write_text(TOY_TEST)
    return root


def entry(**kw) -> dict:
    base = {
        "id": "add-minus",
        "file": "ops.py",
        "original": "a + b",
        "replacement": "a - b",
        "description": "add subtracts",
    }
    return {**base, **kw}


TESTS = {"ops.py": ["tests/test_ops.py", "tests/golden"]}


def test_a_stale_snippet_stops_the_runner_naming_the_mutant(tmp_path):
    root = toy_repo(tmp_path)
    with pytest.raises(mutation.MutantListError, match=r"mutant add-times: .*occurs 0 times.*went stale"):
        mutation.build_mutants([entry(), entry(id="add-times", original="a * b")], TESTS, root, "toy")
    (root / "src" / "toy" / "ops.py").write_text(TOY + "\n\ndef add2(a, b):\n    return a + b\n")
    with pytest.raises(mutation.MutantListError, match=r"mutant add-minus: .*occurs 2 times"):
        mutation.build_mutants([entry()], TESTS, root, "toy")


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"file": "nope.py"}, "no file src/toy/nope.py"),
        ({"replacement": "a + b"}, "equals the original"),
        ({"tests": ["tests/missing.py"]}, "none of its test paths exist"),
        ({"file": "__init__.py", "original": "", "replacement": "x"}, "missing original"),
        ({"kill": True}, "unknown keys"),
    ],
)
def test_other_list_errors_name_the_mutant(tmp_path, bad, fragment):
    root = toy_repo(tmp_path)
    with pytest.raises(mutation.MutantListError, match=fragment):
        mutation.build_mutants([entry(**bad)], TESTS, root, "toy")
    with pytest.raises(mutation.MutantListError, match="duplicate id"):
        mutation.build_mutants([entry(), entry()], TESTS, root, "toy")


def test_missing_test_paths_are_skipped_silently(tmp_path):
    root = toy_repo(tmp_path)
    (m,) = mutation.build_mutants([entry()], TESTS, root, "toy")
    assert m.tests == ("tests/test_ops.py",)  # tests/golden does not exist here


def test_a_mutant_is_applied_to_a_copy_and_never_to_the_source(tmp_path):
    root = toy_repo(tmp_path)
    (m,) = mutation.build_mutants([entry()], TESTS, root, "toy")
    src = mutation.copy_source(root, tmp_path / "copy")
    mutated = mutation.apply_mutant(m, src, "toy")
    assert mutated == tmp_path / "copy" / "src" / "toy" / "ops.py"
    assert "return a - b" in mutated.read_text() and "return 2 * a" in mutated.read_text()
    assert (root / "src" / "toy" / "ops.py").read_text() == TOY


def test_first_failing_test_is_read_from_pytest_output():
    out = (
        "..F\n=== short test summary info ===\nFAILED tests/unit/test_x.py::test_y[til] - assert 1 == 2\n"
        "FAILED tests/unit/test_x.py::test_z\n!!! stopping after 1 failures !!!\n"
    )
    assert mutation.first_failure(out) == "tests/unit/test_x.py::test_y[til]"
    assert mutation.first_failure("ERROR tests/a.py - ImportError\n") == "tests/a.py"
    assert mutation.first_failure("FAILED t.py::test[{2: [3]}-x] - SystemExit: 2\n") == "t.py::test[{2: [3]}-x]"
    assert mutation.first_failure("3 passed in 0.1s\n") is None


def result(status: str, **kw):
    return mutation.Result(kw.pop("id", status), "f.py", "d", status, [], **kw)


def test_kill_rate_leaves_the_equivalent_mutants_out_and_counts_timeouts_as_killed():
    results = [
        result("killed", id="a"),
        result("timeout", id="b"),
        result("survived", id="c"),
        result("equivalent", id="d"),
        result("baseline fails", id="e"),
    ]
    summary = mutation.summarise(results)
    assert summary["kill_rate"] == pytest.approx(2 / 4)
    assert summary["survivors"] == ["c"]
    line = mutation.summary_line(summary)
    assert line.startswith("kill rate: 2/4 = 50.0%") and "baseline fails 1" in line
    table = mutation.markdown_table(results)
    assert table.splitlines()[0] == "| id | file | description | status | killing test |"
    assert len(table.splitlines()) == 2 + len(results)


def test_an_equivalent_mutant_that_is_killed_is_flagged():
    m = mutation.Mutant("m", "f.py", "a", "b", "d", ("t.py",), equivalent="same numbers")
    flagged = mutation.classify(m, mutation.Outcome("failed", 1, 1.0, "t.py::test"))
    assert flagged.status == "equivalent" and flagged.equivalent_check == "killed" and "wrong" in flagged.note
    assert mutation.summarise([flagged])["equivalent_but_killed"] == ["m"]
    plain = mutation.classify(m, mutation.Outcome("passed", 0, 1.0))
    assert plain.status == "equivalent" and plain.equivalent_check == "survived"


def test_a_baseline_runs_only_for_test_sets_inside_no_larger_one():
    a, ab, abc, d = ("a",), ("a", "b"), ("b", "a", "c"), ("d",)
    run, covered = mutation.baseline_plan([a, ab, abc, d])
    assert run == [abc, d]
    assert covered == {a: abc, ab: abc}


def test_an_earlier_run_is_rescored_with_the_current_marks():
    old = [
        result("survived", id="s", outcome="survived"),
        result("equivalent", id="e", equivalent="x", equivalent_check="killed"),
        result("killed", id="k", outcome="killed"),
    ]
    entries = [{"id": "s", "description": "new", "equivalent": "judged equivalent"}, {"id": "e"}, {"id": "k"}]
    new = {r["id"]: r for r in mutation.rescore([mutation.asdict(r) for r in old], entries)}
    assert new["s"]["status"] == "equivalent" and new["s"]["description"] == "new"
    assert new["e"]["status"] == "killed" and new["e"]["equivalent"] is None
    assert new["k"]["status"] == "killed"
    assert mutation.summarise(list(new.values()))["kill_rate"] == 1.0


def test_results_file_is_replaced_atomically(tmp_path):
    out = tmp_path / "results" / "r.json"
    mutation.write_json_atomic(out, {"a": 1})
    mutation.write_json_atomic(out, {"a": 2})
    assert json.loads(out.read_text()) == {"a": 2}
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]


def test_end_to_end_on_a_toy_package(tmp_path, monkeypatch):
    """A baseline, then one mutant killed and one (marked equivalent) surviving, in two jobs."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the toy needs no plugin: 3x faster start
    root = toy_repo(tmp_path)
    entries = [
        entry(),
        entry(
            id="double-plus",
            original="2 * a",
            replacement="a + a",
            description="same value",
            equivalent="a + a == 2 * a",
        ),
    ]
    mutants = mutation.build_mutants(entries, TESTS, root, "toy")
    out = tmp_path / "out.json"
    session = mutation.Session(
        mutants, root, jobs=2, timeout=60, baseline_timeout=60, out=out, log=lambda s: None, package="toy"
    )
    results = {r.id: r for r in session.run()}
    assert results["add-minus"].status == "killed"
    assert results["add-minus"].killing_test == "tests/test_ops.py::test_add"
    assert results["double-plus"].status == "equivalent" and results["double-plus"].equivalent_check == "survived"
    data = json.loads(out.read_text())
    assert data["meta"]["finished"] and data["summary"]["kill_rate"] == 1.0
    assert (root / "src" / "toy" / "ops.py").read_text() == TOY


def test_the_shipped_mutant_list_matches_the_code():
    """Every snippet of benchmarks/mutants.py occurs exactly once in src/retain (else: update the list)."""
    entries, tests = mutation.load_list()
    mutants = mutation.build_mutants(entries, tests)
    assert 80 <= len(mutants) <= 160  # each runs only its own tests: a full run stays around an hour
    assert all(m.file in tests for m in mutants)
    assert not any("test_resume.py" in t or "test_distributed.py" in t for m in mutants for t in m.tests)
