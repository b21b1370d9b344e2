"""Scenarios and benchmarks: frozen task data, the TIL/DIL/CIL setting, sources and constructions."""

from retain.scenarios.benchmarks import (
    BENCHMARKS,
    CONSTRUCTIONS,
    BenchmarkSpec,
    Cut,
    Location,
    make_benchmark,
    named_benchmark,
)
from retain.scenarios.task import Benchmark, Task

__all__ = [
    "BENCHMARKS",
    "CONSTRUCTIONS",
    "Benchmark",
    "BenchmarkSpec",
    "Cut",
    "Location",
    "Task",
    "make_benchmark",
    "named_benchmark",
]
