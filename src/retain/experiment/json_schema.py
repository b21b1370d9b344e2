"""`retain schema`: a JSON Schema (draft-07) of the experiment config, generated from the config dataclasses.

Every key with its type, default, allowed values and description; the names that come from registries
(benchmarks, backbones, scenarios, algorithms, unlearning methods) as enums; each algorithm's own
hyperparameters (its `Params` dataclass) under `algorithm`, switched on `algorithm.name`. Editors that read
JSON Schema (VS Code's YAML extension, any yaml-language-server client) then check a config as it is typed;
docs/sweeps-and-reports.md says how to hook it in.

The schema describes what the strict parser accepts, with two allowances the parser makes too: a number
may be written as a string (`lr: 1e-3`, which YAML 1.1 reads as a string), and `unlearning.requests` keys
are task ids written as integers or strings. What needs the data (task ids within the benchmark's size) is
checked at run time only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any, Literal

from retain.algorithms import ALGORITHMS
from retain.config import LEGACY_ALGORITHMS, SEED_RANGE, AlgorithmConfig, Config
from retain.config.descriptions import FIELD_DOCS
from retain.models import BACKBONES
from retain.scenarios import BENCHMARKS
from retain.scenarios.setting import SCENARIOS
from retain.unlearning import UNLEARNING_METHODS

DRAFT = "http://json-schema.org/draft-07/schema#"
NUMBER_TEXT = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"  # what float() reads, without nan/inf


def _enums() -> dict[str, list[str]]:
    """The keys whose values are registry names."""
    return {
        "benchmark.name": sorted(BENCHMARKS),
        "backbone.name": sorted(BACKBONES),
        "unlearning.method": ["none", *sorted(UNLEARNING_METHODS)],
        "scenario": sorted(SCENARIOS),
    }


def _plain(value: Any) -> Any:
    """A default as JSON: tuples as lists, dataclasses as mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def type_schema(tp: Any, key: str = "") -> dict[str, Any]:
    """The JSON Schema of one annotation, as the strict parser reads it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(a, key) for a in args]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple:
        return {"type": "array", "items": type_schema(args[0], key)}
    if origin is dict:
        return {
            "type": "object",
            "propertyNames": {"pattern": r"^[0-9]+$"},
            "additionalProperties": type_schema(args[1], key),
        }
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(typing.cast(type, tp), key)
    simple = {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        str: {"type": "string"},
        type(None): {"type": "null"},
    }
    if tp is float:  # an integer is a number; a numeric string is read as a float by the parser
        return {"type": ["number", "string"], "pattern": NUMBER_TEXT}
    if tp in simple:
        return dict(simple[tp])
    return {}  # Any


def _field_schema(cls: type, field: dataclasses.Field, hint: Any, key: str, docs: dict[str, str]) -> dict[str, Any]:
    schema = type_schema(hint, key)
    enum = _enums().get(key)
    if enum is not None:
        schema = {"enum": enum + ([None] if type(None) in typing.get_args(hint) else [])}
    if key in ("seed", "benchmark.seed"):
        schema = {**schema, "minimum": 0, "maximum": SEED_RANGE - 1} if "type" in schema else schema
    description = docs.get(key) or docs.get(field.name)
    if description:
        schema["description"] = description
    if field.default is not dataclasses.MISSING:
        schema["default"] = _plain(field.default)
    elif field.default_factory is not dataclasses.MISSING:
        schema["default"] = _plain(field.default_factory())
    return schema


def dataclass_schema(cls: type, prefix: str = "", docs: dict[str, str] | None = None) -> dict[str, Any]:
    """An object with one property per field (no others), described by `docs` (dotted key → text)."""
    docs = FIELD_DOCS if docs is None else docs
    hints = typing.get_type_hints(cls)
    properties = {}
    for field in dataclasses.fields(cls):
        key = f"{prefix}.{field.name}" if prefix else field.name
        if hints[field.name] is AlgorithmConfig:
            properties[field.name] = algorithm_schema()
        else:
            properties[field.name] = _field_schema(cls, field, hints[field.name], key, docs)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if prefix in docs:
        schema["description"] = docs[prefix]
    return schema


def attribute_docs(cls: type) -> dict[str, str]:
    """The `Attributes:` section of a docstring (Google style) as {name: one-line text}."""
    doc = cls.__doc__ or ""
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    found: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        match = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if match:
            name, found[match.group(1)] = match.group(1), match.group(2).strip()
        elif name and line.strip():
            found[name] += " " + line.strip()
    return found


def algorithm_schema() -> dict[str, Any]:
    """`algorithm`: `name` (a registered or first-version name) and, for each name, its own hyperparameters."""
    names = [*ALGORITHMS, *LEGACY_ALGORITHMS]
    branches = []
    for name in names:
        params = ALGORITHMS[LEGACY_ALGORITHMS.get(name, name)].Params
        own = dataclass_schema(params, "", attribute_docs(params))["properties"]
        if name in LEGACY_ALGORITHMS:
            own["disable_unlearning"] = {"type": "boolean", "default": False, "description": "true: method none."}
        branch = {"properties": {"name": {"const": name}, **own}, "additionalProperties": False}
        condition: dict[str, Any] = {"properties": {"name": {"const": name}}, "required": ["name"]}
        if name == AlgorithmConfig.name:  # no name given: the default algorithm
            condition = {"anyOf": [condition, {"not": {"required": ["name"]}}]}
        branches.append({"if": condition, "then": branch})
    return {
        "type": "object",
        "description": FIELD_DOCS["algorithm"],
        "properties": {
            "name": {"enum": names, "default": AlgorithmConfig.name, "description": FIELD_DOCS["algorithm.name"]}
        },
        "allOf": branches,
    }


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a whole config file."""
    schema = dataclass_schema(Config)
    title = "retain experiment config"
    return {"$schema": DRAFT, "title": title, **schema}


def schema_text() -> str:
    return json.dumps(config_schema(), indent=2) + "\n"
