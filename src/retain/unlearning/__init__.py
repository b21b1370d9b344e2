"""Continual unlearning: amnesiac bookkeeping, unlearning requests and their evaluation."""

from retain.unlearning.amnesiac import (
    Amnesiac,
    AmnesiacFinetuning,
    AmnesiacIndependent,
    AmnesiacLwF,
    UpdateRecorder,
)

__all__ = ["Amnesiac", "AmnesiacFinetuning", "AmnesiacIndependent", "AmnesiacLwF", "UpdateRecorder"]
