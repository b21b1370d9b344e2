"""Property: any plain mapping given to the config loader is accepted or refused with a ConfigError."""

from __future__ import annotations

import dataclasses
import math
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retain.algorithms import ALGORITHMS
from retain.config import Config, config_to_dict
from retain.errors import ConfigError
from retain.experiment.build import config_from_dict


def _default(f: dataclasses.Field) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _key_tree(cls: type) -> dict[str, object]:
    """Every key of `cls` with its default (nested sections as sub-trees), so that fuzzing hits real keys."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: _key_tree(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else _default(f)
        for f in dataclasses.fields(cls)
    }


KEYS = _key_tree(Config)
KEYS["algorithm"] = {
    "name": "lwf",
    **{f.name: _default(f) for algo in ALGORITHMS.values() for f in dataclasses.fields(algo.Params)},
}
NAMES = [
    "split_digits",
    "permuted_digits",
    "lwf",
    "joint",
    "independent",
    "mlp",
    "til",
    "cil",
    "dil",
    "stop",
    "skip_batch",
    "all",
    "last",
    "adam",
    "cpu",
    "previous",
    "kl",
    "shuffle",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-3, 70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(NAMES)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def plausible(default: object) -> st.SearchStrategy:
    """Mostly values of the key's own type (valid or just outside), sometimes anything."""
    if isinstance(default, bool):
        typed = st.booleans()
    elif isinstance(default, int) or default is None:
        typed = st.integers(-2, 12) | st.integers(2**31, 2**70) | st.none()
    elif isinstance(default, float):
        typed = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1, 10) | st.sampled_from(["1e-3", "x"])
    elif isinstance(default, str):
        typed = st.sampled_from([default, *NAMES])
    elif isinstance(default, tuple):
        typed = st.lists(st.integers(-1, 64) | st.booleans(), max_size=3)
    else:
        typed = scalars
    return st.one_of(typed, typed, typed, values)


def section(tree: dict[str, object]) -> st.SearchStrategy[dict]:
    known = st.sampled_from(sorted(tree))
    keys = st.one_of(known, known, known, known, known, st.text(max_size=10), st.integers(), st.none())

    def value_for(key: object) -> st.SearchStrategy:
        if not isinstance(key, str) or key not in tree:
            return values
        sub = tree[key]
        if sub == {}:  # a mapping-valued key (unlearning.requests): task id → task ids
            ids = st.integers(-1, 8) | st.booleans() | st.text(max_size=2)
            return st.one_of(st.dictionaries(ids, st.lists(ids, max_size=3) | ids, max_size=3), values)
        return st.one_of(section(sub), section(sub), values) if isinstance(sub, dict) else plausible(sub)

    return st.lists(keys.flatmap(lambda k: st.tuples(st.just(k), value_for(k))), max_size=4).map(dict)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section(KEYS) | values)
def test_the_loader_accepts_or_raises_config_error_only(data):
    try:
        cfg = config_from_dict(data)
    except ConfigError:
        return
    plain = config_to_dict(cfg)
    assert config_from_dict(plain) == cfg  # what is accepted also round-trips
    assert all(math.isfinite(v) for v in _numbers(plain))  # and holds no NaN or infinity anywhere


def _numbers(data: object) -> list[float]:
    if isinstance(data, dict):
        return [n for v in data.values() for n in _numbers(v)]
    if isinstance(data, list):
        return [n for v in data for n in _numbers(v)]
    return [data] if isinstance(data, float) else []
