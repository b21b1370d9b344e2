"""Continual-learning algorithms and their registry (used by the config, the CLI and `retain list`)."""

from retain.algorithms.base import Algorithm, Batch, TrainingData
from retain.algorithms.distillation import DistillationReg
from retain.algorithms.finetuning import Finetuning
from retain.algorithms.independent import Independent
from retain.algorithms.joint import Joint
from retain.algorithms.lwf import LwF, LwFParams
from retain.unlearning.amnesiac import (
    AmnesiacFinetuning,
    AmnesiacIndependent,
    AmnesiacLwF,
)

ALGORITHMS: dict[str, type[Algorithm]] = {
    "finetuning": Finetuning,
    "lwf": LwF,
    "joint": Joint,
    "independent": Independent,
    "amnesiac_finetuning": AmnesiacFinetuning,
    "amnesiac_lwf": AmnesiacLwF,
    "amnesiac_independent": AmnesiacIndependent,
}

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "Batch",
    "DistillationReg",
    "Finetuning",
    "Independent",
    "Joint",
    "LwF",
    "LwFParams",
    "TrainingData",
]
