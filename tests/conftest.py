"""Shared fixtures: tiny synthetic benchmarks and models that run in milliseconds on the CPU."""

from __future__ import annotations

import os

import pytest
import torch

from retain.models import MLP, ContinualModel
from retain.scenarios.builders import permute_pixels, split_by_class
from retain.scenarios.setting import make_heads
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Benchmark
from tests.slow import is_slow


def synthetic_source(num_classes: int = 4, per_class: int = 24, side: int = 4, seed: int = 0) -> SourceData:
    """Linearly separable uint8 images: each class lights up its own block of pixels, plus noise."""
    gen = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(num_classes).repeat_interleave(n)
        x = torch.randint(0, 60, (len(y), 1, side, side), generator=gen)
        flat = x.view(len(y), -1)
        width = flat.shape[1] // num_classes
        for c in range(num_classes):
            flat[y == c, c * width : (c + 1) * width] += 180
        return x.clamp(0, 255).to(torch.uint8), y

    x_tr, y_tr = make(per_class)
    x_te, y_te = make(per_class // 2)
    return SourceData("synthetic", x_tr, y_tr, x_te, y_te, num_classes)


def tiny_benchmark(scenario: str, num_tasks: int = 2, construction: str = "split") -> Benchmark:
    """A tiny benchmark whose every head has at least two classes, so that accuracy, argmax and softened
    probabilities can be wrong (a one-class head is always right, and its KL is always zero)."""
    source = synthetic_source(num_classes=max(4, 2 * num_tasks) if construction == "split" else 4)
    if construction == "split":
        tasks = split_by_class(source, scenario, num_tasks, list(range(source.num_classes)))
    else:
        tasks = permute_pixels(source, scenario, num_tasks, seed=0)
    mean, std = source.channel_stats()
    return Benchmark("tiny", scenario, tuple(tasks), source.input_shape, mean, std)


def tiny_model(scenario: str, input_shape=(1, 4, 4), hidden=(8,)) -> ContinualModel:
    backbone = MLP(input_shape, hidden)
    return ContinualModel(backbone, make_heads(scenario, backbone.output_dim))


@pytest.fixture(params=["til", "dil", "cil"])
def scenario(request: pytest.FixtureRequest) -> str:
    return request.param


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--update-golden`: tests/golden rewrites its pinned numbers from the current code instead of comparing.

    Here because pytest reads command-line options only from the root conftest."""
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/numbers/*.json from the current code (say why in the commit message)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """The `slow` marker, and one torch thread unless `OMP_NUM_THREADS` says otherwise.

    The tests' models and batches are tiny: with torch's default of one thread per core, a shared
    machine's load made the suite run ten times slower (`docs/benchmarks.md`, "Threads"). Setting the
    variable too gives the subprocesses the tests start (CLI runs, sweep workers, torchrun) one thread.
    """
    config.addinivalue_line("markers", "slow: left out of the everyday run (`-m 'not slow'`); see tests/slow.py")
    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests listed in `tests/slow.py` as `slow`."""
    root = config.rootpath
    for item in items:
        function = getattr(item, "originalname", None) or item.name
        if is_slow(item.path.relative_to(root).as_posix(), function):
            item.add_marker(pytest.mark.slow)
