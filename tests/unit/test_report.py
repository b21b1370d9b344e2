"""`retain report` on hand-made run folders: grouping, mean ± std over seeds, seed counts, pages."""

import io
import re
import statistics

import pytest
from rich.console import Console

from retain.cli import main
from retain.errors import RetainError
from retain.runs.collect import find_runs, group, stat
from retain.runs.pages import write_report
from tests.runfolders import make_run


def two_task(final_first: float, final_second: float = 0.9, first: float = 1.0) -> list[list[float]]:
    return [[first], [final_first, final_second]]


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "sweep"
    for seed, acc in zip((0, 1, 2), (0.5, 0.6, 0.7)):
        make_run(
            root / f"lwf-{seed}",
            "lwf",
            seed,
            two_task(acc),
            seconds=[1.0, float(seed)],
            unlearning={
                "dd": 2.0,
                "ag": -0.1 * seed,
                "dd_per_task": {"1": 2.0},
                "ag_scope": "remaining",
                "accuracy": {"unlearned_model": {"1": 0.5}},
                "custom_figure": 1.0,
            },
        )
    make_run(root / "ft-0", "finetuning", 0, two_task(0.2))
    make_run(root / "lwf-T4-0", "lwf", 0, two_task(0.8), params={"distillation_reg_temperature": 4.0})
    make_run(root / "cil-0", "lwf", 0, two_task(0.0), scenario="cil")
    make_run(root / "crashed.incomplete-1", "lwf", 9, two_task(0.0))
    return root


def test_stat_is_mean_and_sample_std():
    values = [0.5, 0.6, 0.7]
    s = stat(values)
    assert s.mean == pytest.approx(statistics.mean(values)) and s.std == pytest.approx(statistics.stdev(values))
    assert s.n == 3 and s.format() == "0.6000 ± 0.1000"
    assert stat([0.3]).format() == "0.3000 ± 0.0000" and stat([None]).format() == "–"


def test_rows_group_seeds_and_split_on_settings(runs):
    tables = group(find_runs([runs]))
    assert [(t.benchmark, t.scenario) for t in tables] == [("split_digits", "cil"), ("split_digits", "til")]
    til = {row.label: row for row in tables[1].rows}
    assert set(til) == {
        "finetuning",
        "lwf (distillation_reg_temperature=default)",
        "lwf (distillation_reg_temperature=4.0)",
    }
    lwf = til["lwf (distillation_reg_temperature=default)"]
    assert lwf.seeds == [0, 1, 2]  # the .incomplete folder (seed 9) is not read
    # final average accuracy = (A[2,1] + A[2,2]) / 2 = (acc + 0.9) / 2
    expected = [(a + 0.9) / 2 for a in (0.5, 0.6, 0.7)]
    final = lwf.metric("final_average_accuracy")
    assert final.mean == pytest.approx(statistics.mean(expected)) and final.std == pytest.approx(
        statistics.stdev(expected)
    )
    forgetting = lwf.metric("forgetting")  # F_1 = 1.0 - acc
    assert forgetting.mean == pytest.approx(0.4) and forgetting.std == pytest.approx(0.1)
    assert lwf.metric("train_seconds").mean == pytest.approx(statistics.mean([1.0, 2.0, 3.0]))
    mean, std = lwf.mean_matrix()
    assert mean[1][0] == pytest.approx(0.6) and std[1][0] == pytest.approx(0.1)
    # the headline figures first, in a fixed order; per-task breakdowns and text stay in the files
    assert lwf.unlearning_keys() == ["ag", "dd", "custom_figure"]


def test_report_pages_show_mean_std_and_seed_count(runs, tmp_path):
    console = Console(file=io.StringIO(), width=200)
    report = write_report([runs], tmp_path / "rep", console=console)
    md = report.markdown.read_text()
    page = report.html.read_text()
    line = next(row for row in md.splitlines() if row.startswith("| lwf (distillation_reg_temperature=default)"))
    assert (
        "| 3 (0, 1, 2) |" in line and "0.7500 ± 0.0500" in line and "0.4000 ± 0.1000" in line
    )  # final acc, forgetting
    assert "[seed 0](../sweep/lwf-0/config.yaml)" in md
    assert "| finetuning | 1 (0) | 0.5500 ± 0.0000" in md
    assert "## split_digits · cil" in md and "## split_digits · til" in md
    assert "-0.1000 ± 0.1000" in md  # AG over seeds 0, 1, 2: 0, -0.1, -0.2
    for fig in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (report.markdown.parent / fig).stat().st_size > 1000
    assert "3 (0, 1, 2)" in console.file.getvalue() and "0.7500 ± 0.0500" in console.file.getvalue()
    assert "<table class='results'>" in page and "0.7500 ± 0.0500" in page
    images = re.findall(r"<img [^>]*src='([^']+)'", page)
    # til: average accuracy, a matrix per row, per-task curves, forgetting, unlearning; cil: no unlearning.json
    assert len(images) == (1 + 3 + 1 + 1 + 1) + (1 + 1 + 1 + 1)
    assert all(src.startswith("data:image/png;base64,") for src in images)  # self-contained
    assert "distillation_reg_temperature: 4.0" in page  # the row's exact config, inline


def test_report_refuses_folders_without_runs(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RetainError, match="no finished run"):
        write_report([tmp_path / "empty"])
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_report_on_one_run_folder_defaults_out_inside_it(tmp_path):
    run = make_run(tmp_path / "run", "finetuning", 3, two_task(0.4))
    assert main(["report", str(run)]) == 0
    assert "1 (3)" in (run / "report" / "report.md").read_text()


def test_several_folders_need_out(runs, tmp_path):
    with pytest.raises(RetainError, match="--out"):
        write_report([runs / "ft-0", runs / "lwf-0"])


def test_reference_runs_inside_a_run_are_not_rows_unless_named(tmp_path):
    run = make_run(tmp_path / "sweep" / "lwf", "amnesiac_lwf", 1, two_task(0.5))
    reference = make_run(run / "references" / "retrain", "amnesiac_lwf", 1, [[0.9]])
    assert [r.path for r in find_runs([tmp_path / "sweep"])] == [run]
    assert [r.path for r in find_runs([reference])] == [reference]


@pytest.mark.parametrize("text", ['{"seed": 0}', '{"accuracy_matrix": []}', "[1, 2]", '{"accuracy_matrix": [0.5]}'])
def test_a_summary_that_is_not_a_run_summary_is_one_line(tmp_path, capsys, text):
    make_run(tmp_path / "run", "lwf", 0, two_task(0.5))
    (tmp_path / "run" / "summary.json").write_text(text)
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "summary.json" in err and "accuracy_matrix" in err and "Traceback" not in err


def test_report_heatmaps_mark_the_rows_after_unlearning(tmp_path, monkeypatch):
    import json

    from retain.runs import figures

    folder = make_run(tmp_path / "run", "amnesiac_lwf", 0, [[1.0], [0.9, 0.8], [0.1, 0.8, 0.9]], unlearning={"ag": 0.0})
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "unlearning_events": {"2": [1]}}))
    seen = []
    real = figures.accuracy_matrix_figure
    monkeypatch.setattr(
        figures, "accuracy_matrix_figure", lambda m, t, marks=None: seen.append(marks) or real(m, t, marks)
    )
    write_report([folder], tmp_path / "report")
    assert seen == [{2: "unlearned 1"}]
