"""The config reader's limits: alias bombs, recursion, depth, duplicate keys, size, encoding, long numbers."""

from __future__ import annotations

import time

import pytest
import yaml

from retain.config import read_config_data
from retain.config.safe_yaml import MAX_BYTES, MAX_DEPTH, load_yaml, read_yaml_file
from retain.errors import ConfigError


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (alias_bomb(), "alias bomb"),
        ("&a [*a]", "recursive document"),
        ("a: &x {b: *x}", "recursive document"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}"),
        ("train:\n  epochs: 1\n  epochs: 2\n", "'epochs' is given twice"),
        ("seed: " + "1" * 5000, "cannot be read"),
        ("a: !!python/object/apply:os.system [echo hi]", "could not determine a constructor"),
    ],
)
def test_hostile_yaml_is_refused_quickly(text, problem):
    start = time.perf_counter()
    with pytest.raises(yaml.YAMLError, match=problem):
        load_yaml(text)
    assert time.perf_counter() - start < 1.0


def test_ordinary_yaml_still_reads_aliases_merges_and_nesting():
    text = "base: &b {lr: 0.1}\ntrain: {<<: *b, epochs: 2}\nother: *b\ndeep: " + "[" * 20 + "]" * 20
    data = load_yaml(text)
    assert data["train"] == {"lr": 0.1, "epochs": 2} and data["other"] == {"lr": 0.1}
    assert load_yaml("") is None


def test_small_alias_reuse_under_the_budget_is_accepted():
    assert len(load_yaml(alias_bomb(levels=3, width=9))["l2"]) == 9


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff\xfe not utf-8", "is not UTF-8 text"),
        (b"a: " + b"x" * (MAX_BYTES + 10), "larger than"),
        (alias_bomb().encode(), "alias bomb"),
        (b"a: 1\na: 2\n", "given twice"),
    ],
)
def test_a_hostile_config_file_is_one_config_error_naming_it(tmp_path, content, problem):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem) as err:
        read_config_data(path)
    assert err.value.key == "--config" and str(path) in str(err.value) and "\n" not in str(err.value)


def test_dev_zero_is_read_only_up_to_the_limit():
    with pytest.raises(ConfigError, match="larger than"):
        read_yaml_file("/dev/zero")


def test_a_set_value_with_thousands_of_digits_is_one_short_error():
    with pytest.raises(ConfigError, match="seed") as err:
        read_config_data(None, ["seed=" + "9" * 5000])
    assert len(str(err.value)) < 400
