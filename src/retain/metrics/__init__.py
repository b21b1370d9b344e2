"""Metrics: pure functions on accuracy matrices."""

from retain.metrics.continual import (
    average_accuracies,
    average_accuracy,
    average_incremental_accuracy,
    backward_transfer,
    final_average_accuracy,
    forgetting,
    forgetting_per_task,
    forward_transfer,
    old_new_accuracy,
    summarise,
)

__all__ = [
    "average_accuracies",
    "average_accuracy",
    "average_incremental_accuracy",
    "backward_transfer",
    "final_average_accuracy",
    "forgetting",
    "forgetting_per_task",
    "forward_transfer",
    "old_new_accuracy",
    "summarise",
]
