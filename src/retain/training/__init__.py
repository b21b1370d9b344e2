"""The task loop, device-resident batches, optimizers and evaluation."""

from retain.training.data import DeviceBatches
from retain.training.loop import (
    LoopLogger,
    SequenceResult,
    resolve_device,
    run_sequence,
)

__all__ = ["DeviceBatches", "LoopLogger", "SequenceResult", "resolve_device", "run_sequence"]
