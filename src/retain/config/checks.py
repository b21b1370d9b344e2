"""The value checks every config section uses: finite numbers, positive or non-negative ones, seeds."""

from __future__ import annotations

import math

from retain.errors import ConfigError

SEED_RANGE = 2**32  # numpy's seeding limit; torch accepts more, but one range for every consumer


def finite(value: float) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # math.isfinite overflows on huge ints


def positive(name: str, value: float) -> None:
    if not (value > 0 and finite(value)):  # `not >` also rejects NaN
        raise ConfigError(name, value, "must be a finite number > 0")


def non_negative(name: str, value: float) -> None:
    if not (value >= 0 and finite(value)):
        raise ConfigError(name, value, "must be a finite number >= 0")


def check_seed(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value < SEED_RANGE:
        raise ConfigError(name, value, f"an integer from 0 to {SEED_RANGE - 1}")
