"""Your own data as a continual-learning benchmark: docs/custom-dataset.md (tests/unit/test_examples.py runs it)."""

import torch

from retain.algorithms import LwF
from retain.config import TrainConfig
from retain.models import MLP, ContinualModel
from retain.scenarios.builders import split_by_class
from retain.scenarios.setting import make_heads
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Benchmark
from retain.training.loop import run_sequence


def my_benchmark(scenario: str = "til") -> Benchmark:
    # Any uint8 images (N, C, H, W) with integer labels 0..C-1; here 6 classes of random 8×8 images.
    gen = torch.Generator().manual_seed(0)
    y_train, y_test = torch.arange(6).repeat(40), torch.arange(6).repeat(10)
    x_train = torch.randint(0, 256, (len(y_train), 1, 8, 8), generator=gen, dtype=torch.uint8)
    x_test = torch.randint(0, 256, (len(y_test), 1, 8, 8), generator=gen, dtype=torch.uint8)
    source = SourceData("my_data", x_train, y_train, x_test, y_test, num_classes=6)
    tasks = split_by_class(source, scenario, num_tasks=3, order=[0, 1, 2, 3, 4, 5])  # 3 tasks × 2 classes
    mean, std = source.channel_stats()  # normalisation statistics of the training images
    return Benchmark("split_my_data", scenario, tuple(tasks), source.input_shape, mean, std)


def main() -> list[list[float]]:
    benchmark = my_benchmark("til")
    torch.manual_seed(0)
    backbone = MLP(benchmark.input_shape, (64,))
    model = ContinualModel(backbone, make_heads(benchmark.scenario, backbone.output_dim))
    result = run_sequence(
        LwF(model), benchmark, TrainConfig(epochs=2), torch.Generator().manual_seed(0), torch.device("cpu")
    )
    return result.accuracy_matrix


if __name__ == "__main__":
    for row in main():
        print(row)
