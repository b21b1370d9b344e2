"""The speed harness's arithmetic and its minimal floor loop (no timing is asserted)."""

import pytest

from retain.bench.floor import minimal_lwf
from retain.bench.speed import floor_units, table
from tests.conftest import synthetic_source


@pytest.mark.parametrize("case,tasks,epochs,units", [
    ("finetuning", 10, 2, 3.0),
    ("lwf previous", 10, 2, 4.0),
    ("lwf per_task", 10, 2, 12.0),
    ("lwf per_task (loop)", 5, 2, 7.0),
    ("lwf per_task cached", 10, 2, 3.0 + 9 / 2),
    ("lwf previous cached", 10, 4, 3.25),
])
def test_floor_units(case, tasks, epochs, units):
    assert floor_units(case, tasks, epochs) == pytest.approx(units)


def test_table_reports_ratios_to_the_minimal_finetuning_loop():
    rows = [
        {"case": "floor finetuning", "tasks": 5, "seconds_per_epoch": 2.0, "peak_memory_mib": 100, "final_average_accuracy": 0.5},
        {"case": "lwf per_task", "tasks": 5, "seconds_per_epoch": 5.0, "peak_memory_mib": 120, "final_average_accuracy": 0.6},
    ]
    text = table(rows, epochs=2)
    # 5.0 / 2.0 = 2.50 against a floor of (5 + 2) / 3 = 2.33 → 1.07
    assert "| 5 | lwf per_task | 5.000 | 2.50 | 2.33 | 1.07 | 120 | 0.6000 |" in text


@pytest.mark.parametrize("mode", ["none", "previous", "per_task"])
def test_minimal_loop_learns(mode):
    source = synthetic_source(num_classes=4, per_class=30)
    tasks = [(source.x_train, source.y_train, source.x_test, source.y_test)] * 2
    seconds, final = minimal_lwf(tasks, mode, epochs=3, batch_size=16, hidden=(16,), mean=0.3, std=0.3)
    assert seconds > 0 and final > 0.8
