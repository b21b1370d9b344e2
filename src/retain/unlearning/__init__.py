"""Continual unlearning: methods that wrap any algorithm, unlearning requests and their evaluation."""

from retain.algorithms.base import Algorithm
from retain.unlearning.amnesiac import Amnesiac, AmnesiacFinetuning, AmnesiacIndependent, AmnesiacLwF
from retain.unlearning.protocol import Unlearnable
from retain.unlearning.recorder import UpdateRecorder

# `unlearning.method` in the config → the wrapper class (called with the algorithm instance).
UNLEARNING_METHODS: dict[str, type[Algorithm]] = {"amnesiac": Amnesiac}

__all__ = [
    "Amnesiac",
    "AmnesiacFinetuning",
    "AmnesiacIndependent",
    "AmnesiacLwF",
    "UNLEARNING_METHODS",
    "Unlearnable",
    "UpdateRecorder",
]
