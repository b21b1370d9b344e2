"""The generated reference pages cover every config key and every CLI command; every page is in the nav."""

import dataclasses
import typing
from pathlib import Path

import yaml

from retain.algorithms import ALGORITHMS
from retain.cli import COMMANDS
from retain.config import AlgorithmConfig, Config
from retain.reference import cli_reference, config_reference

ROOT = Path(__file__).parents[2]


def every_key(cls, prefix=""):
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        if tp is AlgorithmConfig:
            yield f"{prefix}{field.name}.name"
            for algorithm in ALGORITHMS.values():
                yield from every_key(algorithm.Params, f"{prefix}{field.name}.")
        elif dataclasses.is_dataclass(tp):
            yield from every_key(tp, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}"


def test_config_reference_lists_every_field():
    table = config_reference()
    keys = list(every_key(Config))
    assert "logging.tensorboard" in keys and "algorithm.distillation_reg_temperature" in keys
    for key in keys:
        assert f"| `{key}` |" in table, key


def test_cli_reference_has_every_command():
    text = cli_reference()
    for name in COMMANDS:
        assert f"### `retain {name}`" in text
    assert "--grid" in text and "--launcher" in text


def test_every_docs_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = {page for entry in config["nav"] for page in entry.values()}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages == nav
