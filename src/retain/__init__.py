"""retain: continual learning and continual unlearning in PyTorch, built around LwF.

Public API (nothing runs at import time):

    from retain import run, load_config
    result = run(load_config(overrides=["algorithm.name=lwf"]))
    print(result.summary["final_average_accuracy"])
"""

from retain._version import __version__
from retain.algorithms import (
    ALGORITHMS,
    Algorithm,
    DistillationReg,
    Finetuning,
    Independent,
    Joint,
    LwF,
    LwFParams,
)
from retain.config import Config
from retain.errors import CheckpointError, ConfigError, DataError, NumericalError, RetainError, RunInterrupted
from retain.experiment.build import build, build_benchmark, load_config
from retain.experiment.compare import compare
from retain.experiment.result import RunResult
from retain.experiment.run import run
from retain.models import BACKBONES, ContinualModel, HeadDIL, HeadsCIL, HeadsTIL
from retain.scenarios import BENCHMARKS, Benchmark, Task

__all__ = [
    "__version__",
    "ALGORITHMS",
    "Algorithm",
    "BACKBONES",
    "BENCHMARKS",
    "Benchmark",
    "CheckpointError",
    "Config",
    "ConfigError",
    "ContinualModel",
    "DataError",
    "DistillationReg",
    "Finetuning",
    "HeadDIL",
    "HeadsCIL",
    "HeadsTIL",
    "Independent",
    "Joint",
    "LwF",
    "LwFParams",
    "NumericalError",
    "RetainError",
    "RunInterrupted",
    "RunResult",
    "Task",
    "build",
    "build_benchmark",
    "compare",
    "load_config",
    "run",
]
