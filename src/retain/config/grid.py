"""`retain sweep --grid KEY=V1,V2,...`: the grid of values to sweep, read without importing torch so that
a malformed grid is reported at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from retain.config.safe_yaml import load_yaml
from retain.errors import ConfigError


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """Parse `--grid key=v1,v2,...` items; each value is read as YAML (`seed=1,2` gives integers).

    A value holding a comma (a list such as `[400,400]`) is written inside brackets: commas inside
    `[...]` do not split values.
    """
    grid: list[tuple[str, list[Any]]] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError("--grid", item, "expected KEY=V1,V2,..., e.g. --grid seed=1,2,3")
        if key in (k for k, _ in grid):
            raise ConfigError("--grid", item, f"{key} is given twice: list all its values in one --grid")
        if key == "out":
            raise ConfigError("--grid", item, "out cannot be swept: every point gets its own folder")
        values = []
        for part in _split_top_level(text):
            try:
                values.append(load_yaml(part))
            except yaml.YAMLError:
                raise ConfigError(f"--grid {key}", part, "not readable as YAML") from None
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"--grid {key}", text, "a value is repeated")
        grid.append((key, values))
    return grid


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    if any(not p for p in parts):
        raise ConfigError("--grid", text, "an empty value (two commas in a row?)")
    return parts
