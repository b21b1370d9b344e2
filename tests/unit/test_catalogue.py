"""`retain.catalogue` (what `retain list` and the CLI's name checks read, without torch) names exactly
what the registries hold: a registry entry without its catalogue line, or the other way round, fails here."""

from __future__ import annotations

import inspect

import pytest

from retain import catalogue
from retain.algorithms import ALGORITHMS
from retain.config import parse_config
from retain.errors import ConfigError
from retain.experiment.build import SEQUENCE_METHODS, check_config
from retain.models import BACKBONES
from retain.scenarios import BENCHMARKS, CONSTRUCTIONS
from retain.scenarios.setting import SCENARIOS
from retain.unlearning import UNLEARNING_METHODS


def summary(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line: its description in `retain list`."""
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split())


def test_the_benchmarks_are_the_registry_s_rows():
    listed = [(b.name, b.construction, b.tasks, b.scenario, b.description) for b in catalogue.BENCHMARKS]
    registered = [
        (name, spec.construction, spec.default_tasks, spec.default_scenario, spec.description)
        for name, spec in BENCHMARKS.items()
    ]
    assert listed == registered, "retain.catalogue.BENCHMARKS must list retain.scenarios.BENCHMARKS row by row"


@pytest.mark.parametrize(
    "entries,registry",
    [(catalogue.BACKBONES, BACKBONES), (catalogue.ALGORITHMS, ALGORITHMS)],
    ids=["backbones", "algorithms"],
)
def test_each_class_is_listed_with_the_first_paragraph_of_its_docstring(entries, registry):
    expected = [catalogue.Listed(name, summary(cls)) for name, cls in registry.items()]
    assert list(entries) == expected, "add or change the retain.catalogue line(s) to match the registry"


def test_the_other_names_are_the_registries():
    assert catalogue.SCENARIOS == tuple(SCENARIOS)
    assert catalogue.CONSTRUCTIONS == tuple(CONSTRUCTIONS)
    assert catalogue.UNLEARNING_METHODS == ("none", *UNLEARNING_METHODS, *SEQUENCE_METHODS)


@pytest.mark.parametrize(
    "key,value",
    [
        ("benchmark.name", "split_mnsit"),
        ("backbone.name", "mpl"),
        ("scenario", "tli"),
        ("unlearning.method", "amnesic"),
        ("algorithm.name", "lwff"),
    ],
)
def test_an_unknown_name_reads_as_the_registry_check_reads_it(key, value):
    cfg = parse_config(_nested(key, value))
    with pytest.raises(ConfigError) as torch_free:
        catalogue.check_names(cfg)
    with pytest.raises(ConfigError) as registry:
        check_config(cfg)
    assert str(torch_free.value) == str(registry.value)
    catalogue.check_names(cfg, skip=[key])  # a command that sets the key itself


def test_an_unknown_construction_reads_as_the_registry_check_reads_it():
    cfg = parse_config({"benchmark": {"name": "custom", "path": "x.npz", "construction": "spilt"}})
    with pytest.raises(ConfigError, match="benchmark.construction = 'spilt'") as torch_free:
        catalogue.check_names(cfg)
    with pytest.raises(ConfigError) as registry:
        check_config(cfg)
    assert str(torch_free.value) == str(registry.value)


def test_every_unknown_name_is_reported_at_once():
    cfg = parse_config({"backbone": {"name": "mpl"}, "algorithm": {"name": "lwff"}})
    with pytest.raises(ConfigError) as err:
        catalogue.check_names(cfg)
    assert [err.value.key, *(e.key for e in err.value.more)] == ["backbone.name", "algorithm.name"]
    assert "did you mean 'mlp'" in str(err.value) and "did you mean 'lwf'" in str(err.value)


def test_the_registered_names_pass():
    for algorithm in catalogue.names(catalogue.ALGORITHMS):
        catalogue.check_names(parse_config({"algorithm": {"name": algorithm}, "scenario": "cil"}))


def _nested(key: str, value: str) -> dict:
    section, _, leaf = key.rpartition(".")
    return {section: {leaf: value}} if section else {leaf: value}
