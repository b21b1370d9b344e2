"""retain: continual learning and continual unlearning in PyTorch, built around LwF.

Public API (nothing runs at import time, and torch is imported only when a name needs it):

    from retain import run, load_config
    result = run(load_config(overrides=["algorithm.name=lwf"]))
    print(result.summary["final_average_accuracy"])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from retain._version import __version__

if TYPE_CHECKING:
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

# where each public name lives; imported on first use, so that `import retain` (and `retain --help`)
# does not wait for torch
_HOMES = {
    **dict.fromkeys(("ALGORITHMS", "Algorithm", "DistillationReg", "Finetuning", "Independent", "Joint", "LwF",
                     "LwFParams"), "retain.algorithms"),
    "Config": "retain.config",
    **dict.fromkeys(("CheckpointError", "ConfigError", "DataError", "NumericalError", "RetainError",
                     "RunInterrupted"), "retain.errors"),
    **dict.fromkeys(("build", "build_benchmark", "load_config"), "retain.experiment.build"),
    "compare": "retain.experiment.compare",
    "RunResult": "retain.experiment.result",
    "run": "retain.experiment.run",
    **dict.fromkeys(("BACKBONES", "ContinualModel", "HeadDIL", "HeadsCIL", "HeadsTIL"), "retain.models"),
    **dict.fromkeys(("BENCHMARKS", "Benchmark", "Task"), "retain.scenarios"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'retain' has no attribute {name!r}")


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
