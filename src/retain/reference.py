"""Reference tables generated from the code: every config key (from the dataclasses) and every CLI
command (from the argparse parser). The docs build inserts them (docs/hooks.py), so they cannot drift."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator
from typing import Any


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    return getattr(tp, "__name__", str(tp))


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if dataclasses.is_dataclass(value):
        return "(section)"
    if isinstance(value, tuple):
        value = list(value)
    return "null" if value is None else f"`{value}`".replace("`True`", "`true`").replace("`False`", "`false`")


def config_fields(cls: type | None = None, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, section description) for every leaf key of the config, depth first.

    `algorithm` lists the keys of every registered algorithm's `Params` as `algorithm.<key>` with the
    algorithm named in the description.
    """
    from retain.algorithms import ALGORITHMS
    from retain.config import AlgorithmConfig, Config

    cls = cls or Config
    hints = typing.get_type_hints(cls)
    doc = " ".join((cls.__doc__ or "").split())
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        tp = hints[field.name]
        if tp is AlgorithmConfig:
            yield (
                f"{key}.name",
                _type_name(str),
                f"`{AlgorithmConfig.name}`",
                " ".join((AlgorithmConfig.__doc__ or "").split()),
            )
            for name, algorithm in ALGORITHMS.items():
                params_doc = f"hyperparameter of `{name}`"
                for sub in config_fields(algorithm.Params, f"{key}."):
                    yield sub[0], sub[1], sub[2], params_doc
        elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
            yield from config_fields(tp, f"{key}.")
        else:
            yield key, _type_name(tp), _default(field), doc


def config_reference() -> str:
    """A Markdown table of every config key."""
    lines = ["| key | type | default | section |", "|---|---|---|---|"]
    last = None
    for key, tp, default, doc in config_fields():
        cell = "" if doc == last else doc.replace("|", "\\|")  # the section's text once, on its first key
        last = doc
        lines.append(f"| `{key}` | {tp} | {default} | {cell} |")
    return "\n".join(lines)


def cli_reference() -> str:
    """Markdown: each `retain` subcommand with its full `--help` text."""
    from retain.cli import parser

    root = parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["```text", root.format_help().rstrip(), "```"]
    for name, command in sub.choices.items():
        parts += ["", f"### `retain {name}`", "", "```text", command.format_help().rstrip(), "```"]
    return "\n".join(parts)
