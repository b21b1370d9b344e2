"""Scenarios and benchmarks: frozen task data, the TIL/DIL/CIL setting, sources and builders."""

from retain.scenarios.benchmarks import BENCHMARKS, BenchmarkSpec, build_benchmark
from retain.scenarios.task import Benchmark, Task

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkSpec", "Task", "build_benchmark"]
