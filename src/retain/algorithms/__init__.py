"""Continual-learning algorithms and their registry (read by the composition layer, the CLI and `retain list`).

Unlearning is not an algorithm: any of these can be wrapped by an unlearning method (`retain.unlearning`).
"""

from retain.algorithms.base import Algorithm, Batch, TrainingData
from retain.algorithms.distillation import DistillationReg
from retain.algorithms.finetuning import Finetuning
from retain.algorithms.independent import Independent
from retain.algorithms.joint import Joint
from retain.algorithms.lwf import LwF, LwFParams
from retain.algorithms.ncm import NCM, NCMParams

ALGORITHMS: dict[str, type[Algorithm]] = {
    "finetuning": Finetuning,
    "lwf": LwF,
    "joint": Joint,
    "independent": Independent,
    "ncm": NCM,
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
    "NCM",
    "NCMParams",
    "TrainingData",
]
