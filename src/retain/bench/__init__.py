"""Benchmark harnesses (`retain bench speed`): measured speed and memory, never timed tests."""
