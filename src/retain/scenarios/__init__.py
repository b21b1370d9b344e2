"""Scenarios and benchmarks: frozen task data, the TIL/DIL/CIL setting, sources and constructions."""

from retain.scenarios.benchmarks import (
    BENCHMARKS,
    CONSTRUCTIONS,
    BenchmarkSpec,
    build_benchmark,
    make_benchmark,
)
from retain.scenarios.task import Benchmark, Task

__all__ = ["BENCHMARKS", "CONSTRUCTIONS", "Benchmark", "BenchmarkSpec", "Task", "build_benchmark", "make_benchmark"]
