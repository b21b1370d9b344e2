"""The task loop, the two data paths (device-resident, DataLoader), optimizers and evaluation.

The names below are imported on first use, not with the package: the algorithms import
`retain.training.batch`, which runs this file, and the loop imports the algorithms, so importing the
loop here would close an import cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retain.training.data import DeviceBatches, LoaderBatches
    from retain.training.loop import LoopLogger, SequenceResult, resolve_device, run_sequence
    from retain.training.placement import DataPath, choose_data_path

_MODULE_OF = {
    "DataPath": "placement",
    "DeviceBatches": "data",
    "LoaderBatches": "data",
    "LoopLogger": "loop",
    "SequenceResult": "loop",
    "choose_data_path": "placement",
    "resolve_device": "loop",
    "run_sequence": "loop",
}

__all__ = [
    "DataPath",
    "DeviceBatches",
    "LoaderBatches",
    "LoopLogger",
    "SequenceResult",
    "choose_data_path",
    "resolve_device",
    "run_sequence",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"retain.training.{_MODULE_OF[name]}"), name)
