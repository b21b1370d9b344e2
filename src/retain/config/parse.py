"""The strict parser: YAML and `--set key=value` overrides into the dataclasses of `retain.config.schema`.

An unknown key, a wrong type or an invalid value raises one `ConfigError` that names the full key
(`train.optimizer.lr`), the value and what is valid; a conversion happens only where it is lossless.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from retain.config.safe_yaml import load_yaml, read_yaml_file, yaml_problem
from retain.config.schema import AlgorithmConfig, Config
from retain.errors import ConfigError, one_of


def from_mapping(cls: type, data: Any) -> Any:
    """Build dataclass `cls` from a mapping, strictly; errors carry the key path below `cls`."""
    if not isinstance(data, Mapping):
        raise ConfigError("", data, f"expected a mapping of {cls.__name__} keys")
    if hasattr(cls, "from_mapping"):
        return cls.from_mapping(data)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs, errors = {}, []
    for key, value in data.items():  # every key is checked, so that one message lists every problem
        if key not in names:
            errors.append(ConfigError(str(key), value, "unknown key; " + one_of(names, str(key))))
            continue
        try:
            kwargs[key] = _coerce(hints[key], value)
        except ConfigError as err:
            errors.append(err.under(key))
    if errors:
        raise ConfigError.of_all(errors)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError("", data, str(err)) from None


def _coerce(tp: Any, value: Any) -> Any:
    """Check `value` against the annotation `tp`, converting only where the conversion is lossless."""
    origin = typing.get_origin(tp)
    if origin in _GENERIC:
        return _GENERIC[origin](typing.get_args(tp), value)
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value)  # type: ignore[arg-type]  # a dataclass type, not an instance
    if tp in _SCALARS:
        return _SCALARS[tp](value)
    raise TypeError(f"retain.config cannot parse annotation {tp!r}")


def _union(args: tuple[Any, ...], value: Any) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for candidate in (a for a in args if a is not type(None)):
        try:
            return _coerce(candidate, value)
        except ConfigError as err:
            errors.append(err.valid)
    raise ConfigError("", value, " or ".join(errors) + (" or null" if type(None) in args else ""))


def _literal(args: tuple[Any, ...], value: Any) -> Any:
    if value not in args:
        raise ConfigError("", value, one_of(args, value))
    return value


def _tuple(args: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError("", value, f"a list of {args[0].__name__}")
    return tuple(_coerce(args[0], v) for v in value)


def _dict(args: tuple[Any, ...], value: Any) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError("", value, "a mapping")
    return {_coerce(args[0], k): _coerce(args[1], v) for k, v in value.items()}


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError("", value, "true or false")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("", value, "an integer")
    return value


def _float(value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads `1e-3` as a string
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("", value, "a number")
    return float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError("", value, "a string")
    return value


_GENERIC: dict[Any, Any] = {
    typing.Union: _union,
    types.UnionType: _union,
    Literal: _literal,
    tuple: _tuple,
    dict: _dict,
}
_SCALARS: dict[Any, Any] = {bool: _bool, int: _int, float: _float, str: _str, Any: lambda value: value}


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `a.b.c=value` applied (the value is read as YAML)."""
    result = _deep_copy(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--set", item, "expected KEY=VALUE, e.g. train.epochs=2")
        try:
            value = load_yaml(text) if text.strip() else None
        except yaml.YAMLError as err:
            shown = text if len(text) <= 80 else f"{text[:40]}... ({len(text)} characters)"
            raise ConfigError(key, shown, f"not readable as YAML ({yaml_problem(err)})") from None
        set_key(result, key, value)
    return result


def set_key(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted `key` (`a.b.c`) in the nested mapping `data`, in place, creating missing sections."""
    node = data
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(parts[: i + 1]), child, "is a value, not a section")
        node = child
    node[parts[-1]] = value


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_config_data(path: str | Path | None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The plain mapping of a YAML config file (read within the limits of `retain.config.safe_yaml`) with
    `--set` overrides applied."""
    data: Any = {}
    if path is not None:
        path = Path(path)
        data = read_yaml_file(path) or {}
        if not isinstance(data, Mapping):
            raise ConfigError("--config", str(path), "must hold a mapping of top-level keys")
    return apply_overrides(data, overrides)


def parse_config(data: Mapping[str, Any]) -> Config:
    """A Config from a plain mapping (as written in `config.yaml`), checked key by key and value by value.

    Names that need a registry are not checked here: `retain.experiment.build.check_config` does that
    (and `retain.load_config` / `retain.experiment.config_from_dict` do both).
    """
    return from_mapping(Config, legacy_spelling(data))


# The first version's names of the unlearnable algorithms: `algorithm.name: amnesiac_lwf` is `lwf` with
# `unlearning.method: amnesiac`, and its `disable_unlearning: true` (the reference runs) is `method: none`.
LEGACY_ALGORITHMS = {"amnesiac_finetuning": "finetuning", "amnesiac_lwf": "lwf", "amnesiac_independent": "independent"}


def legacy_spelling(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`data` with a first-version algorithm name (`amnesiac_<x>`) rewritten as `<x>` + `unlearning.method`."""
    algorithm = data.get("algorithm") if isinstance(data, Mapping) else None
    if not isinstance(algorithm, Mapping):
        return data
    name = algorithm.get("name")
    if not isinstance(name, str) or name not in LEGACY_ALGORITHMS:
        return data
    section = {k: v for k, v in algorithm.items() if k != "disable_unlearning"}
    disabled = algorithm.get("disable_unlearning", False)
    if not isinstance(disabled, bool):
        raise ConfigError("algorithm.disable_unlearning", disabled, "true or false")
    method = "none" if disabled else "amnesiac"
    unlearning = data.get("unlearning") or {}
    if not isinstance(unlearning, Mapping):
        return data  # the strict parser reports the bad section
    if disabled and unlearning.get("requests"):
        raise ConfigError(
            "unlearning.requests",
            unlearning["requests"],
            "algorithm.disable_unlearning is true: set it to false to unlearn",
        )
    if unlearning.get("method", method) != method:
        raise ConfigError(
            "unlearning.method",
            unlearning["method"],
            f"{method!r} with algorithm.name {name!r} (or set algorithm.name: {LEGACY_ALGORITHMS[name]!r})",
        )
    return {
        **data,
        "algorithm": {**section, "name": LEGACY_ALGORITHMS[name]},
        "unlearning": {**unlearning, "method": method},
    }


def config_to_dict(cfg: Any) -> Any:
    """The plain-data form of a config (what `config.yaml` holds); inverse of `config_from_dict`."""
    if isinstance(cfg, AlgorithmConfig):
        return {"name": cfg.name, **(config_to_dict(cfg.params) or {})}
    if dataclasses.is_dataclass(cfg):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, tuple | list):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: config_to_dict(v) for k, v in cfg.items()}
    return cfg
