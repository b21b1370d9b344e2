"""The experiment configuration: typed, frozen dataclasses (`schema`) and their strict YAML parser (`parse`).

A leaf of the package: it imports nothing of retain but `retain.errors`. The checks that need a
registry (known names, an algorithm's hyperparameters) happen in `retain.experiment.build`.
"""

from retain.config.checks import SEED_RANGE
from retain.config.parse import (
    LEGACY_ALGORITHMS,
    apply_overrides,
    config_to_dict,
    from_mapping,
    legacy_spelling,
    parse_config,
    read_config_data,
    set_key,
)
from retain.config.safe_yaml import load_yaml, read_yaml_file
from retain.config.schema import (
    CUSTOM,
    AlgorithmConfig,
    BackboneConfig,
    BenchmarkConfig,
    Config,
    OptimizerConfig,
    TrainConfig,
    UnlearningConfig,
)
from retain.config.sections import CheckpointConfig, EvalConfig, LoggingConfig, MemoryConfig

__all__ = [
    "CUSTOM",
    "LEGACY_ALGORITHMS",
    "SEED_RANGE",
    "AlgorithmConfig",
    "BackboneConfig",
    "BenchmarkConfig",
    "CheckpointConfig",
    "Config",
    "EvalConfig",
    "LoggingConfig",
    "MemoryConfig",
    "OptimizerConfig",
    "TrainConfig",
    "UnlearningConfig",
    "apply_overrides",
    "config_to_dict",
    "from_mapping",
    "legacy_spelling",
    "load_yaml",
    "parse_config",
    "read_config_data",
    "read_yaml_file",
    "set_key",
]
