"""The checkpoint format: its version, the entries a checkpoint must hold and what each must look like,
so that a damaged file is one clear error when it is read, not a traceback during restore."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from retain.errors import CheckpointError

FORMAT = "retain.checkpoint"
VERSION = 1
REQUIRED = (
    "format",
    "version",
    "tasks_done",
    "config",
    "config_hash",
    "model",
    "algorithm",
    "accuracy_matrix",
    "train_seconds_per_task",
    "rng",
    "metrics_bytes",
    "elapsed_seconds",
    "progress",
)
# `watch` (optional): what a `Watch` logger found so far (e.g. the attack after each task).


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the config's canonical JSON, without `out` (where a run is written is not what it is)."""
    data = {k: v for k, v in config.items() if k != "out"}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def validate(path: Path, payload: Any) -> None:
    """Raise a one-line `CheckpointError` unless `payload` (read from `path`) is a retain checkpoint of this
    version with every entry in the expected structure and its config matching its hash."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a retain checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload.get('version')!r}; this retain reads {VERSION}"
        )
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    wrong = next((key for key, ok in _SHAPES.items() if not ok(payload[key])), None)
    if wrong is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: its {wrong!r} entry has the wrong structure")
    if not isinstance(payload.get("watch", {}), dict):
        raise CheckpointError(f"checkpoint {path} is damaged: its 'watch' entry has the wrong structure")
    if payload["config_hash"] != config_hash(payload["config"]):
        raise CheckpointError(f"checkpoint {path} is corrupt: its config does not match its config hash")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(_number(v) for v in value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_PROGRESS_KEYS = {"task": _count, "epoch": _count, "step": _count, "counted": _count, "skipped": _count,
                  "seconds": _number, "sums": lambda v: isinstance(v, dict), "optimizer": lambda v: isinstance(v, dict)}  # fmt: skip
# What each entry must look like: a damaged file is one clear error here, not a traceback during restore.
_SHAPES: dict[str, Callable[[Any], bool]] = {
    "tasks_done": _count,
    "config": lambda v: isinstance(v, dict),
    "config_hash": lambda v: isinstance(v, str),
    "model": lambda v: isinstance(v, dict) and all(isinstance(t, torch.Tensor) for t in v.values()),
    "algorithm": lambda v: isinstance(v, dict),
    "accuracy_matrix": lambda v: isinstance(v, list) and all(_numbers(row) for row in v),
    "train_seconds_per_task": _numbers,
    "rng": lambda v: isinstance(v, dict) and {"python", "numpy", "torch", "cuda", "generator"} <= set(v),
    "metrics_bytes": _count,
    "elapsed_seconds": _number,
    "progress": lambda v: (
        v is None or (isinstance(v, dict) and all(k in v and ok(v[k]) for k, ok in _PROGRESS_KEYS.items()))
    ),
}
