"""Continual unlearning: methods that wrap any algorithm, unlearning requests and their evaluation."""

from retain.unlearning.amnesiac import Amnesiac, AmnesiacFinetuning, AmnesiacIndependent, AmnesiacLwF
from retain.unlearning.protocol import Unlearnable
from retain.unlearning.recorder import UpdateRecorder

# `unlearning.method` in the config → the wrapper class (called with the algorithm instance; `schedule`
# then receives the config's requests).
UNLEARNING_METHODS: dict[str, type[Amnesiac]] = {"amnesiac": Amnesiac}

__all__ = [
    "Amnesiac",
    "AmnesiacFinetuning",
    "AmnesiacIndependent",
    "AmnesiacLwF",
    "UNLEARNING_METHODS",
    "Unlearnable",
    "UpdateRecorder",
]
