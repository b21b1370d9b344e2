"""The speed harness's arithmetic and its minimal floor loop (no timing is asserted)."""

import pytest

from retain.bench.floor import minimal_lwf
from retain.bench.speed import floor_units, table
from tests.conftest import synthetic_source


@pytest.mark.parametrize(
    "case,tasks,epochs,units",
    [
        ("finetuning", 10, 2, 3.0),
        ("lwf previous", 10, 2, 4.0),
        ("lwf per_task", 10, 2, 12.0),
        ("lwf per_task (loop)", 5, 2, 7.0),
        ("lwf per_task cached", 10, 2, 3.0 + 9 / 2),
        ("lwf previous cached", 10, 4, 3.25),
    ],
)
def test_floor_units(case, tasks, epochs, units):
    assert floor_units(case, tasks, epochs) == pytest.approx(units)


def test_table_reports_ratios_to_the_minimal_finetuning_loop():
    rows = [
        {
            "case": "floor finetuning",
            "tasks": 5,
            "seconds_per_epoch": 2.0,
            "peak_memory_mib": 100,
            "final_average_accuracy": 0.5,
        },
        {
            "case": "lwf per_task",
            "tasks": 5,
            "seconds_per_epoch": 5.0,
            "peak_memory_mib": 120,
            "final_average_accuracy": 0.6,
            "teachers_mib": 4.0,
            "cache_mib": 0.0,
        },
    ]
    text = table(rows, epochs=2)
    # 5.0 / 2.0 = 2.50 against a floor of (5 + 2) / 3 = 2.33 → 1.07
    assert "| 5 | lwf per_task | 5.000 | 2.50 | 2.33 | 1.07 | 120 | 4.00 | 0.00 | 0.6000 |" in text
    assert "| 5 | floor finetuning | 2.000 | 1.00 | 1.00 | 1.00 | 100 | – | – | 0.5000 |" in text


@pytest.mark.parametrize("mode", ["none", "previous", "per_task"])
def test_minimal_loop_learns(mode):
    source = synthetic_source(num_classes=4, per_class=30)
    tasks = [(source.x_train, source.y_train, source.x_test, source.y_test)] * 2
    seconds, final = minimal_lwf(tasks, mode, epochs=3, batch_size=16, hidden=(16,), mean=0.3, std=0.3)
    assert seconds > 0 and final > 0.8


def test_synthetic_sources_have_the_real_shapes():
    from retain.bench.speed import synthetic_source

    fmnist = synthetic_source("synthetic_fmnist", 50, seed=0)
    assert fmnist.x_train.shape == (50, 1, 28, 28) and fmnist.x_train.dtype.is_floating_point is False
    assert int(fmnist.y_train.max()) < 10 and fmnist.num_classes == 10
    cifar = synthetic_source("synthetic_cifar100", 50, seed=0)
    assert cifar.x_train.shape == (50, 3, 32, 32) and cifar.num_classes == 100


def test_measure_keeps_the_fastest_repeat_and_every_time(monkeypatch):
    from retain.bench import speed

    times = iter([0.5, 0.3, 0.4])
    monkeypatch.setattr(
        speed,
        "_measure_once",
        lambda case, args: {"seconds_per_epoch": next(times), "peak_memory_mib": 10.0, "final_average_accuracy": 0.7},
    )
    row = speed.measure("finetuning", {"tasks": 2}, repeats=3)
    assert row["seconds_per_epoch"] == 0.3 and row["repeat_seconds_per_epoch"] == [0.5, 0.3, 0.4]
    assert row["case"] == "finetuning" and row["tasks"] == 2


def test_a_case_that_dies_is_reported_not_awaited_forever():
    from retain.bench.speed import _measure_once

    args = {"threads": 1, "benchmark": "no_such_benchmark", "tasks": 2, "samples": 10, "seed": 0}
    with pytest.raises(RuntimeError, match="died"):
        _measure_once("finetuning", args)


def test_repeats_must_be_positive():
    from retain.bench.speed import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--repeats", "0"])
    assert exit_info.value.code == 2


def test_state_peak_is_sampled_when_the_task_data_is_ready():
    from retain.bench.speed import _record_state_peak

    class Fake:
        sizes = iter([{"teachers": 5, "cache": 7}, {"teachers": 9, "cache": 3}])

        def on_training_data(self, data):
            self.current = next(self.sizes)

        def memory_bytes(self):
            return self.current

    algo = Fake()
    peak = _record_state_peak(algo)
    algo.on_training_data(None)
    algo.on_training_data(None)
    assert peak == {"teachers": 9, "cache": 7}


def test_a_floor_and_a_library_case_run_end_to_end_on_the_same_data():
    from retain.bench.speed import measure

    args = {
        "threads": 1,
        "benchmark": "synthetic_fmnist",
        "backbone": "mlp",
        "tasks": 2,
        "samples": 64,
        "epochs": 1,
        "batch_size": 32,
        "device": "cpu",
        "seed": 0,
    }
    floor, library = measure("floor lwf per_task", args), measure("lwf per_task cached", args)
    for row in (floor, library):
        assert row["seconds_per_epoch"] > 0 and row["peak_memory_mib"] > 0
    # the same seeded data, model and protocol: the plain loop and the library end with the same accuracy
    assert floor["final_average_accuracy"] == pytest.approx(library["final_average_accuracy"], abs=1e-6)
    # one teacher after task 1, and its cached targets of 64 samples × 10 classes
    assert library["teachers_mib"] > 0 and library["cache_mib"] == pytest.approx(64 * 10 * 4 / 2**20)


def test_results_are_written_after_every_case(tmp_path, monkeypatch):
    import json

    from retain.bench import speed

    seen = []

    def fake_measure(case, args, repeats):
        if seen:  # the first case's row must already be on disk when the second starts
            assert json.loads(out.read_text())["rows"][0]["case"] == seen[0]
        seen.append(case)
        return {
            "case": case,
            "tasks": args["tasks"],
            "seconds_per_epoch": 1.0,
            "peak_memory_mib": 1.0,
            "final_average_accuracy": 0.5,
        }

    out = tmp_path / "speed.json"
    monkeypatch.setattr(speed, "measure", fake_measure)
    assert speed.main(["--tasks", "2", "--cases", "floor finetuning,finetuning", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["complete"] and [r["case"] for r in report["rows"]] == ["floor finetuning", "finetuning"]
    assert "| 2 | finetuning |" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize(
    "case,finished,units",
    [("finetuning", 19, 1.0), ("lwf per_task", 19, 22 / 3), ("lwf per_task", 1, 4 / 3), ("lwf previous", 9, 4 / 3)]
    + [("lwf per_task cached", 19, 1.0), ("lwf previous cached", 4, 1.0), ("floor", 9, 1.0)],
)
def test_per_step_unit_floor(case, finished, units):
    from retain.bench.step import unit_floor

    assert unit_floor(case, finished) == pytest.approx(units)  # (T + 2)/3 with T = k + 1 tasks


@pytest.mark.parametrize("scenario", ["til", "dil", "cil"])
def test_per_step_mode_times_every_case_and_writes_its_table(tmp_path, scenario):
    import json

    from retain.bench import speed
    from retain.bench.step import STEP_CASES

    out = tmp_path / "step.json"
    argv = ["--per-step", "--finished", "1,3", "--steps", "2", "--rounds", "2", "--samples", "128"]
    assert speed.main([*argv, "--scenario", scenario, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert [(r["k"], r["case"]) for r in rows][:7] == [(1, c) for c in ("floor", "finetuning", *STEP_CASES)]
    assert len(rows) == 14 and all(len(r["round_seconds"]) == 2 and r["seconds"] > 0 for r in rows)
    assert all(r["ratio_finetuning"] == 1.0 for r in rows if r["case"] == "finetuning")
    assert len(report["load_average"]["before"]) == 3
    assert "| 3 | lwf per_task | " in out.with_suffix(".md").read_text()
