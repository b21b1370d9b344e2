"""`retain schema`: the JSON Schema agrees with the strict parser on the shipped configs and on bad ones."""

import dataclasses
import json
import typing
from pathlib import Path

import pytest
import yaml

from retain.algorithms import ALGORITHMS
from retain.cli import main
from retain.config import Config
from retain.config.descriptions import FIELD_DOCS
from retain.errors import ConfigError
from retain.experiment.build import config_from_dict
from retain.experiment.json_schema import attribute_docs, config_schema

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).parents[2]
SHIPPED = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "benchmarks" / "reproduce").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = config_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator, data) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_is_valid_against_the_schema(validator, path):
    assert errors(validator, yaml.safe_load(path.read_text())) == []


GOOD = [
    {},
    {"algorithm": {"distillation_reg_temperature": 4}},  # no name: the default algorithm's keys
    {"algorithm": {"name": "finetuning"}, "train": {"optimizer": {"lr": "1e-3"}}},  # YAML 1.1's string
    {"algorithm": {"name": "amnesiac_lwf", "disable_unlearning": True}},
    {"unlearning": {"method": "amnesiac", "requests": {4: [2]}}, "benchmark": {"num_tasks": 5}},
    {"benchmark": {"class_order": [3, 1, 0, 2]}, "scenario": None, "train": {"sync_batchnorm": "auto"}},
    {"logging": {"wandb": {"project": "p", "tags": ["a"]}, "mlflow": True}},
]

BAD = [
    ({"trian": {}}, "Additional properties"),
    ({"train": {"epochs": "five"}}, "is not of type 'integer'"),
    ({"train": {"optimizer": {"name": "rmsprop"}}}, "is not one of"),
    ({"benchmark": {"name": "split_mnist_typo"}}, "is not one of"),
    ({"algorithm": {"name": "finetuning", "distillation_reg_factor": 2}}, "Additional properties"),
    ({"algorithm": {"teachr": "previous"}}, "Additional properties"),
    ({"train": {"optimizer": {"lr": "fast"}}}, "does not match"),
    ({"unlearning": {"requests": {"after four": [2]}}}, "does not match"),
    ({"logging": {"tensorboard": "yes"}}, "is not of type 'boolean'"),
    ({"logging": {"wandb": {"mode": "onlin"}}}, "is not valid under any of the given schemas"),
]


@pytest.mark.parametrize("data", GOOD)
def test_what_the_parser_accepts_the_schema_accepts(validator, data):
    config_from_dict(data)
    assert errors(validator, data) == []


@pytest.mark.parametrize("data,message", BAD)
def test_what_the_parser_refuses_the_schema_refuses(validator, data, message):
    with pytest.raises(ConfigError):
        config_from_dict(data)
    assert any(message in e for e in errors(validator, data)), errors(validator, data)


def leaf_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        tp = typing.get_type_hints(cls)[field.name]
        keys.append(key)
        if dataclasses.is_dataclass(tp) and field.name != "algorithm":
            keys += leaf_keys(tp, key + ".")
    return keys


def test_every_key_has_a_description_and_a_default():
    assert sorted(set(leaf_keys(Config)) - set(FIELD_DOCS)) == []
    schema = config_schema()
    assert schema["properties"]["train"]["properties"]["epochs"] == {
        "type": "integer",
        "description": FIELD_DOCS["train.epochs"],
        "default": 5,
    }
    assert schema["properties"]["backbone"]["properties"]["hidden"]["default"] == [256, 256]
    for name, algorithm in ALGORITHMS.items():
        documented = attribute_docs(algorithm.Params)
        assert set(documented) == {f.name for f in dataclasses.fields(algorithm.Params)}, name


def test_the_command_prints_it_and_writes_it(tmp_path, capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$schema"].startswith("http://json-schema.org/draft-07") and "algorithm" in printed["properties"]
    assert main(["schema", "--out", str(tmp_path / "retain.schema.json")]) == 0
    assert json.loads((tmp_path / "retain.schema.json").read_text()) == printed
