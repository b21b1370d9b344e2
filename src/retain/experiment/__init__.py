"""The composition layer: the only place that reads configs and registries and composes the components.

`build` turns a config into a benchmark, a model and an algorithm (wrapped in its unlearning method);
the modules above it run, resume, compare and sweep experiments.
"""
