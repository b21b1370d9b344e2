"""The report's figures stay readable with many rows and long labels: no layout warning, human titles."""

import warnings

import pytest

from retain.runs import figures
from retain.runs.collect import find_runs, group
from tests.runfolders import make_run

MODELS = ("unlearned_model", "original_reference", "retrain_reference")


@pytest.fixture
def table(tmp_path):
    for k, algorithm in enumerate(["amnesiac_lwf", "amnesiac_finetuning"] * 3):
        for seed in range(2):
            values = {"ag": 0.01 * k - 0.02, "dd": 2.0 + k, "custom_score": 0.5}
            values |= {f"{m}_accuracy_on_{s}": 0.1 * k for m in MODELS for s in ("unlearned", "remaining")}
            values["retrain_reference_accuracy_on_unlearned"] = None  # it never learnt them
            params = {"lwf_lambda": float(k), "a_very_long_hyperparameter_name_for_the_labels": k}
            make_run(tmp_path / f"r{k}-{seed}", algorithm, seed, [[1.0], [0.5, 0.9]], params=params, unlearning=values)
    make_run(tmp_path / "plain", "finetuning", 0, [[1.0], [0.5, 0.9]])  # no unlearning.json
    return group(find_runs([tmp_path]))[0]


def test_the_unlearning_figure_groups_the_accuracies_and_names_rows_in_one_legend(table):
    keys = sorted({k for row in table.rows for k in row.unlearning_keys()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a collapsed constrained layout is a UserWarning
        fig = figures.unlearning_figure(table.rows, keys, table.title)
        figures.png_bytes(fig)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == [
        "AG (accuracy gain)",
        "DD (distribution distance)",
        "accuracy on the unlearned tasks",
        "accuracy on the remaining tasks",
        "custom_score",
    ]
    ticks = [t.get_text() for t in fig.axes[2].get_xticklabels()]
    assert ticks == ["unlearned model", "original ref.", "retrain ref."]
    assert [t.get_text() for t in fig.axes[2].texts] == ["n/a"] and len(fig.axes[3].texts) == 0
    assert fig.axes[0].get_xticklabels() == []  # rows are told apart by colour, named once in the legend
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert len(names) == 6 and "finetuning" not in names  # the row without unlearning values is left out


def test_the_other_figures_render_without_warnings(table):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fig in (
            figures.per_task_figure(table.rows, table.title),
            figures.forgetting_figure(table.rows, table.title),
            figures.average_accuracy_figure(table.rows, table.title),
            figures.accuracy_matrix_figure(table.rows[0].mean_matrix()[0], "accuracy matrix — " + table.rows[0].label),
        ):
            figures.png_bytes(fig)
    per_task = figures.per_task_figure(table.rows, table.title)
    assert all(max(map(len, ax.get_title().splitlines()), default=0) <= 44 for ax in per_task.axes)
