"""Reading a backbone's weights from a local file, safely, and loading them with a one-line diagnosis.

`.safetensors` files are read with `safetensors` (no code can run); anything else (`.pth`, `.pt`, `.bin`,
a timm training checkpoint) with `torch.load(weights_only=True)`, which refuses pickled objects other
than tensors and plain containers. A training checkpoint's weights are found under `state_dict`,
`model` or `state_dict_ema` (in that order), and a `module.` prefix (DataParallel/DDP) is removed.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from retain.errors import ConfigError

KEY = "backbone.weights"
CHECKPOINT_KEYS = ("state_dict", "model", "state_dict_ema")
SHOWN = 5  # keys listed per kind in an error; the rest are counted


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of the weights file at `path` (see the module docstring for the formats)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(KEY, str(path), "no such file: expected a local .safetensors, .pth or timm checkpoint")
    if file.suffix == ".safetensors":
        raw: Any = _read_safetensors(file)
    else:
        try:
            raw = torch.load(file, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                KEY, str(path), f"cannot be read safely with torch.load(weights_only=True): {first}"
            ) from None
    return _tensors(_unwrap(raw), path)


def _read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ConfigError(
            KEY, str(file), "reading .safetensors needs the safetensors package: pip install safetensors"
        ) from None
    try:
        return load_file(str(file), device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError (not exported under one stable name)
        raise ConfigError(KEY, str(file), f"is not a readable .safetensors file ({err})") from None


def _unwrap(raw: Any) -> Any:
    """The weights of a training checkpoint (`{'state_dict': {...}, 'epoch': 3, ...}`), else `raw`."""
    if isinstance(raw, Mapping):
        for key in CHECKPOINT_KEYS:
            if isinstance(raw.get(key), Mapping):
                return raw[key]
    return raw


def _tensors(raw: Any, path: str | Path) -> dict[str, torch.Tensor]:
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ConfigError(KEY, str(path), "holds no state dict (a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in raw.items()}


def _listed(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return "[" + ", ".join(keys[:SHOWN]) + "]" + more


def load_weights(net: nn.Module, path: str | Path, what: str, drop: tuple[str, ...] = ()) -> None:
    """Load the weights file at `path` into `net` exactly: every key present, none left over, every shape equal.

    `drop` names prefixes of keys the file may hold that `net` does not (the classifier a pretrained file
    carries, removed here because retain's heads replace it). `what` names the model in the error.

    Raises:
        ConfigError: one line naming the file and the missing, unexpected or mis-shaped keys.
    """
    state = {k: v for k, v in read_state_dict(path).items() if not any(_under(k, p) for p in drop)}
    own = net.state_dict()
    missing = own.keys() - state.keys()
    unexpected = state.keys() - own.keys()
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in sorted(own.keys() & state.keys())]
    shapes = [s for s, k in zip(shapes, sorted(own.keys() & state.keys())) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"missing keys {_listed(missing)}")
        if unexpected:
            problems.append(f"unexpected keys {_listed(unexpected)}")
        if shapes:
            problems.append(f"shapes (file vs model) {_listed(shapes)}")
        raise ConfigError(KEY, str(path), f"does not fit {what}: " + "; ".join(problems))
    net.load_state_dict(state)


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")
