"""The task loop, the two data paths (device-resident, DataLoader), optimizers and evaluation."""

from retain.training.data import DeviceBatches, LoaderBatches
from retain.training.loop import (
    LoopLogger,
    SequenceResult,
    resolve_device,
    run_sequence,
)
from retain.training.placement import DataPath, choose_data_path

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
