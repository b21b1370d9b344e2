"""The report's tables: repeated seeds counted once, labels for people, paired comparisons, exports."""

import csv
import io
import math

import pytest
from rich.console import Console

from retain.cli import main
from retain.errors import RetainError
from retain.runs.collect import find_runs, group
from retain.runs.exports import latex_escape
from retain.runs.labels import human_value, requests_phrase, row_labels
from retain.runs.pages import write_report
from retain.runs.tables import paired_grid, results_grid
from tests.runfolders import make_run


def matrix(first: float) -> list[list[float]]:
    return [[1.0], [first, 0.9]]  # final average accuracy (first + 0.9) / 2


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    for seed, (ft, lwf) in enumerate([(0.3, 0.5), (0.4, 0.65), (0.5, 0.7)]):
        make_run(root / f"ft-{seed}", "finetuning", seed, matrix(ft))
        make_run(root / f"lwf-{seed}", "lwf", seed, matrix(lwf))
    make_run(root / "lwf-9", "lwf", 9, matrix(0.9))  # a seed finetuning does not have
    return root


def quiet() -> Console:
    return Console(file=io.StringIO(), width=250)


def test_a_seed_run_twice_counts_once_and_is_named(tmp_path):
    make_run(tmp_path / "a" / "lwf-0", "lwf", 0, matrix(0.5))
    make_run(tmp_path / "a" / "lwf-1", "lwf", 1, matrix(0.7))
    make_run(tmp_path / "a" / "lwf-1-again", "lwf", 1, matrix(0.7))
    make_run(tmp_path / "a" / "lwf-1-third", "lwf", 1, matrix(0.7))
    (row,) = group(find_runs([tmp_path / "a"]))[0].rows
    assert row.seeds == [0, 1] and [r.path.name for r in row.repeats] == ["lwf-1-again", "lwf-1-third"]
    final = row.metric("final_average_accuracy")
    assert final.n == 2 and final.std == pytest.approx(0.1 / math.sqrt(2))  # (0.7, 0.8), not (0.7, 0.8, 0.8, 0.8)
    grid = results_grid(group(find_runs([tmp_path / "a"]))[0])
    assert grid.rows[0][1] == "2 (0, 1); seed 1 ×3, counted once"
    md = write_report([tmp_path / "a"], tmp_path / "rep", console=quiet()).markdown.read_text()
    assert "Not counted" in md and "lwf-1-again" in md


def test_loggers_do_not_split_rows(tmp_path):
    import yaml

    first = make_run(tmp_path / "s" / "a", "lwf", 0, matrix(0.5))
    second = make_run(tmp_path / "s" / "b", "lwf", 1, matrix(0.7))
    for folder, logging in ((first, {"tensorboard": True}), (second, {"wandb": {"name": "seed-1"}})):
        config = yaml.safe_load((folder / "config.yaml").read_text())
        (folder / "config.yaml").write_text(yaml.safe_dump({**config, "logging": logging}))
    (row,) = group(find_runs([tmp_path / "s"]))[0].rows
    assert row.label == "lwf" and row.seeds == [0, 1]


def test_seeds_are_in_numeric_order(tmp_path):
    for seed in (10, 2, 1):
        make_run(tmp_path / "s" / f"r{seed}", "lwf", seed, matrix(0.5))
    assert group(find_runs([tmp_path / "s"]))[0].rows[0].seeds == [1, 2, 10]


def test_labels_name_only_the_differing_settings_for_people():
    def identity(**settings):
        return tuple(sorted((k, repr(v)) for k, v in {"algorithm.name": "x", **settings}.items()))

    rows = {
        identity(**{"unlearning.requests.4": (2,), "train.optimizer.lr": 0.1}): "amnesiac_lwf",
        identity(**{"unlearning.requests.3": (1, 2), "train.optimizer.lr": 0.1}): "amnesiac_lwf",
        identity(**{"train.optimizer.lr": 0.01}): "amnesiac_lwf",
        identity(**{"backbone.hidden": (400, 400)}): "lwf",
        identity(**{"backbone.hidden": (100,)}): "lwf",
        identity(): "finetuning",
    }
    assert sorted(row_labels(rows).values()) == [
        "amnesiac_lwf (no unlearning, lr=0.01)",
        "amnesiac_lwf (unlearns task 2 after task 4, lr=0.1)",
        "amnesiac_lwf (unlearns tasks 1, 2 after task 3, lr=0.1)",
        "finetuning",
        "lwf (hidden=[100])",
        "lwf (hidden=[400, 400])",
    ]
    assert human_value(None) == "none" and human_value(True) == "true"
    assert requests_phrase({"unlearning.requests.5": [3], "unlearning.requests.3": [1]}) == (
        "unlearns task 1 after task 3; task 3 after task 5"
    )


def test_keys_sharing_a_last_part_keep_their_full_names():
    rows = {
        (("a.seed", "1"), ("benchmark.seed", "None")): "lwf",
        (("a.seed", "2"), ("benchmark.seed", "3")): "lwf",
    }
    assert sorted(row_labels(rows).values()) == [
        "lwf (a.seed=1, benchmark.seed=none)",
        "lwf (a.seed=2, benchmark.seed=3)",
    ]


def test_paired_comparison_against_the_first_row_over_shared_seeds(sweep):
    table = group(find_runs([sweep]))[0]
    grid = paired_grid(table, None)
    assert grid is not None and grid.title.startswith("paired difference vs finetuning")
    # lwf − finetuning on final average accuracy over seeds 0, 1, 2: (0.2, 0.25, 0.2) / 2 = (0.1, 0.125, 0.1):
    # mean 0.108333, s 0.014434, t = 0.108333 / (s / √3) = 13.0, p = 1 − 13 / √171 = 0.005865,
    # half-width 4.302653 · s / √3 = 0.035855; seed 9 has no finetuning run and is left out
    (row,) = grid.rows
    assert row[0] == "lwf" and row[1] == "+0.1083 [0.0725, 0.1442] p=0.0059 (n=3)"


def test_baseline_by_name_and_unknown_baseline(sweep, tmp_path):
    table = group(find_runs([sweep]))[0]
    grid = paired_grid(table, "lwf")
    assert (
        grid is not None
        and grid.rows[0][0] == "finetuning"
        and grid.rows[0][1] == "-0.1083 [-0.1442, -0.0725] p=0.0059 (n=3)"
    )
    with pytest.raises(RetainError, match="--baseline 'ewc' is no row of any table; rows: finetuning, lwf"):
        write_report([sweep], tmp_path / "rep", console=quiet(), baseline="ewc")


def test_exports_write_csv_latex_and_markdown(sweep, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(sweep), "--out", str(out), "--format", "csv", "--format", "latex"]) == 0
    assert "tables.csv" in capsys.readouterr().out and not (out / "tables.md").exists()
    rows = list(csv.DictReader((out / "tables.csv").read_text().splitlines()))
    lwf = next(r for r in rows if r["algorithm"] == "lwf" and r["metric"] == "final_average_accuracy")
    # seeds 0, 1, 2, 9: (0.7, 0.775, 0.8, 0.9)
    assert float(lwf["mean"]) == pytest.approx(0.79375) and lwf["n"] == "4" and lwf["ci_method"] == "t"
    assert float(lwf["diff_mean"]) == pytest.approx(0.325 / 3) and lwf["diff_n"] == "3"
    assert float(lwf["p_value"]) == pytest.approx(1 - 13 / math.sqrt(171)) and lwf["baseline"] == "finetuning"
    ft = next(r for r in rows if r["algorithm"] == "finetuning" and r["metric"] == "bwt")
    assert ft["diff_mean"] == "" and float(ft["ci_low"]) < float(ft["mean"]) < float(ft["ci_high"])
    tex = (out / "tables.tex").read_text()
    assert "\\begin{tabular}{lrrrrrr}" in tex and "0.7938 $\\pm$ 0.0826" in tex and "\\bottomrule" in tex
    assert main(["report", str(sweep), "--out", str(out), "--format", "markdown"]) == 0
    assert "| lwf | 4 (0, 1, 2, 9) | 0.7938 ± 0.0826 [" in (out / "tables.md").read_text()


def test_bad_format_is_refused_by_the_command_line(sweep, capsys):
    with pytest.raises(SystemExit):
        main(["report", str(sweep), "--format", "xlsx"])
    assert "invalid choice: 'xlsx'" in capsys.readouterr().err
    with pytest.raises(RetainError, match="--format 'xlsx'"):
        write_report([sweep], formats=["xlsx"])


def test_latex_escape():
    assert latex_escape("lwf (a_b=50%) & ± ·") == r"lwf (a\_b=50\%) \& $\pm$ $\cdot$"
    assert latex_escape("x\\y #1 {z}") == r"x\textbackslash{}y \#1 \{z\}"
