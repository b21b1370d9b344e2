import pytest
import torch

from retain.config import BenchmarkConfig
from retain.experiment.build import build_benchmark
from tests.conftest import tiny_benchmark


@pytest.mark.parametrize("construction", ["split", "permuted"])
def test_without_keeps_remaining_tasks_bit_identical(scenario, construction):
    bench = tiny_benchmark(scenario, num_tasks=4 if construction == "split" else 3, construction=construction)
    reduced = bench.without([2])
    assert [t.id for t in reduced.tasks] == list(range(1, bench.num_tasks))
    assert [t.origin for t in reduced.tasks] == [t.id for t in bench.tasks if t.id != 2]
    for task in reduced.tasks:
        original = bench.task(task.origin)
        assert torch.equal(task.x_train, original.x_train) and torch.equal(task.x_test, original.x_test)
        if scenario != "cil":
            assert torch.equal(task.y_train, original.y_train)


def test_without_shifts_cil_labels_past_the_removed_classes():
    bench = tiny_benchmark("cil", num_tasks=4)
    reduced = bench.without([2])
    assert sorted(set(reduced.tasks[1].y_train.tolist())) == [2, 3]  # task 3's classes 4, 5 become 2, 3
    assert sorted(set(reduced.tasks[0].y_train.tolist())) == [0, 1]


def test_without_unknown_task_is_an_error():
    with pytest.raises(KeyError, match=r"has no task \[7\]"):
        tiny_benchmark("til").without([7])


def test_benchmark_config_without():
    bench = build_benchmark(BenchmarkConfig(name="split_digits", without=(2, 4)), "til", seed=0)
    assert [t.classes for t in bench.tasks] == [(0, 1), (4, 5), (8, 9)]


def test_without_every_task_is_refused():
    bench = tiny_benchmark("til", num_tasks=2)
    with pytest.raises(ValueError, match="removes all 2 tasks"):
        bench.without([1, 2])
    assert bench.without([2]).num_tasks == 1
