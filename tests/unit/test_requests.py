"""Unlearning requests are validated when the config is read; the references keep the run's own `without`."""

import pytest

from retain.errors import ConfigError
from retain.experiment.build import config_from_dict
from retain.unlearning.evaluate import reference_config
from retain.unlearning.requests import check_requests, unlearned_tasks


def check(requests, num_tasks=5, method="amnesiac"):
    check_requests(requests, num_tasks, method)


@pytest.mark.parametrize(
    "requests,fragment",
    [
        ({0: [1]}, "task 0 does not exist"),
        ({6: [1]}, "task 6 does not exist"),
        ({3: [0]}, "task 0 does not exist"),
        ({3: [4]}, "task 4 is not learnt yet after task 3"),
        ({2: [1], 4: [1]}, "task 1 was already unlearned after task 2"),
    ],
)
def test_bad_requests_name_the_task(requests, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        check(requests)
    assert info.value.key.startswith("unlearning.requests")


def test_requests_need_an_unlearning_method():
    with pytest.raises(ConfigError, match="set unlearning.method: amnesiac") as info:
        check({3: [1]}, method="none")
    assert info.value.key == "unlearning.requests"
    with pytest.raises(ConfigError, match="disable_unlearning is true"):  # the first version's spelling
        config_from_dict(
            {"algorithm": {"name": "amnesiac_lwf", "disable_unlearning": True}, "unlearning": {"requests": {3: [1]}}}
        )


def test_valid_requests_pass_and_list_every_unlearned_task():
    check({3: [3], 5: [1, 4]})  # the task just trained may be unlearned too
    check({9: [1]}, num_tasks=None)  # upper bound unknown before the data loads
    assert unlearned_tasks({5: [4, 1], 3: [3]}) == [1, 3, 4]


def test_a_reference_leaves_out_the_unlearned_tasks_and_the_runs_own():
    cfg = config_from_dict(
        {"algorithm": {"name": "amnesiac_lwf"}, "benchmark": {"without": [5]}, "unlearning": {"requests": {3: [2]}}}
    )
    ref = reference_config(cfg, (2,))
    assert ref.benchmark.without == (2, 5)
    assert ref.unlearning.method == "none" and not ref.unlearning.requests
    assert ref.algorithm == cfg.algorithm


def test_requests_are_checked_against_the_tasks_left_after_without():
    data = {
        "algorithm": {"name": "amnesiac_lwf"},
        "benchmark": {"name": "split_digits", "without": [5]},
        "unlearning": {"requests": {5: [1]}},
    }
    with pytest.raises(ConfigError, match=r"task 5 does not exist \(tasks 1..4\)"):
        config_from_dict(data).resolved()


def test_without_may_not_remove_every_task():
    with pytest.raises(ConfigError, match="must leave at least one of the 5 tasks"):
        config_from_dict({"benchmark": {"name": "split_digits", "without": [1, 2, 3, 4, 5]}}).resolved()
