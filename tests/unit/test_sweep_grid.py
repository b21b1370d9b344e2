"""Sweep grids: parsing `--grid`, expanding combinations, folder names, validation before training."""

import pytest

from retain.config.grid import parse_grid
from retain.errors import ConfigError
from retain.experiment.sweep import expand, point_name, validate


def test_values_are_read_as_yaml_and_brackets_keep_commas():
    grid = parse_grid(["seed=1,2", "backbone.hidden=[8],[16,16]", "algorithm.name=finetuning,lwf"])
    assert grid == [("seed", [1, 2]), ("backbone.hidden", [[8], [16, 16]]), ("algorithm.name", ["finetuning", "lwf"])]


@pytest.mark.parametrize(
    "item,message",
    [
        ("seed", "KEY=V1,V2"),
        ("=1,2", "KEY=V1,V2"),
        ("seed=1,,2", "empty value"),
        ("seed=1,1", "repeated"),
        ("out=a,b", "cannot be swept"),
    ],
)
def test_bad_grid_items_are_clear_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid([item])


def test_a_key_given_twice_is_an_error():
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["seed=1", "seed=2"])


def test_every_combination_with_deterministic_names():
    base = {"train": {"epochs": 1}, "out": "ignored"}
    points = expand(base, parse_grid(["algorithm.name=finetuning,lwf", "seed=1,2,3"]))
    assert [p.name for p in points][:4] == [
        "algorithm.name-finetuning_seed-1",
        "algorithm.name-finetuning_seed-2",
        "algorithm.name-finetuning_seed-3",
        "algorithm.name-lwf_seed-1",
    ]
    assert len(points) == 6
    assert points[3].data == {"train": {"epochs": 1}, "out": None, "algorithm": {"name": "lwf"}, "seed": 1}
    assert base == {"train": {"epochs": 1}, "out": "ignored"}  # the caller's mapping is not changed
    assert point_name([("backbone.hidden", [16, 16])]) == "backbone.hidden-16-16"


def test_names_that_collide_are_refused():
    with pytest.raises(ConfigError, match="same folder name"):
        expand({}, [("benchmark.root", ["a/b", "a b"])])


def test_an_invalid_point_is_named_before_anything_runs():
    points = expand({}, parse_grid(["train.epochs=1,0"]))
    with pytest.raises(ConfigError, match=r"train.epochs.*sweep point train.epochs-0"):
        validate(points)


def test_sweeping_algorithms_drops_hyperparameters_the_algorithm_lacks():
    base = {"algorithm": {"name": "lwf", "distillation_reg_temperature": 2.0}}
    points = expand(base, parse_grid(["algorithm.name=finetuning,lwf"]))
    assert points[0].data["algorithm"] == {"name": "finetuning"}
    assert points[1].data["algorithm"] == {"name": "lwf", "distillation_reg_temperature": 2.0}
    validate(points)
