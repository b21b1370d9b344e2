"""The final model of a run (`model.pt`): weights, algorithm state and head sizes, as plain tensors.

Loaded with `torch.load(weights_only=True)`: a file that would need arbitrary unpickling is refused.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from retain.errors import DataError
from retain.runs.store import atomic_write_bytes

if TYPE_CHECKING:
    from retain.algorithms.base import Algorithm
    from retain.scenarios.task import Benchmark

FORMAT = "retain-model-v1"
FILENAME = "model.pt"


def save_model(folder: Path, algorithm: Algorithm, benchmark: Benchmark) -> Path:
    """Write `model.pt` atomically into `folder`."""
    state = {
        "format": FORMAT,
        "head_sizes": [t.num_classes for t in benchmark.tasks],
        "model": {k: v.detach().cpu() for k, v in algorithm.model.state_dict().items()},
        "algorithm": _to_cpu(algorithm.state_dict()),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = folder / FILENAME
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def load_model_file(path: Path) -> dict[str, Any]:
    """Read a `model.pt` safely; DataError for a missing, corrupt or unsafe file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path} not found: the run folder has no final model (was the run finished?)") from None
    except Exception as err:  # torch raises UnpicklingError/RuntimeError/EOFError for bad files
        raise DataError(
            f"{path} cannot be loaded safely (corrupt, truncated or not a retain model file): {err}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DataError(f"{path} is not a retain model file (expected format {FORMAT!r})")
    sizes, model = state.get("head_sizes"), state.get("model")
    if not (
        isinstance(sizes, list)
        and all(isinstance(n, int) and 0 < n <= 1 << 16 for n in sizes)
        and isinstance(model, dict)
        and all(isinstance(t, torch.Tensor) for t in model.values())
        and isinstance(state.get("algorithm"), dict)
    ):
        raise DataError(f"{path} is damaged: its head sizes, weights or algorithm state have the wrong structure")
    return state


def restore(algorithm: Algorithm, state: dict[str, Any], device: torch.device) -> None:
    """Load a saved model and algorithm state into a freshly built `algorithm` (heads are re-created);
    DataError if they do not fit it."""
    try:
        _restore(algorithm, state, device)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"the saved model does not fit this run's model or algorithm ({first})") from None


def _restore(algorithm: Algorithm, state: dict[str, Any], device: torch.device) -> None:
    model = algorithm.model
    for task_id, size in enumerate(state["head_sizes"], start=1):
        model.heads.setup_task(task_id, size)
    model.load_state_dict(state["model"])
    model.to(device)
    algorithm.load_state_dict(state["algorithm"])
