"""Which data path a run uses: device-resident batches when the data fits, else a `DataLoader`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from retain.scenarios.task import Benchmark

# keep half the free memory for the model, activations, teachers and the allocator's slack
DEVICE_MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class DataPath:
    """The chosen path (`device` or `loader`) and why, as logged with the run."""

    name: str
    reason: str


def benchmark_bytes(benchmark: Benchmark) -> int:
    """Bytes of every image and label of every task (an upper bound of what the device path holds:
    Joint's last task trains on all training sets while all test sets are held for evaluation)."""
    total = 0
    for task in benchmark.tasks:
        for t in (task.x_train, task.y_train, task.x_test, task.y_test, task.x_val, task.y_val):
            if t is not None:
                total += t.numel() * t.element_size()
    return total


def free_device_bytes(device: torch.device) -> int | None:
    """Free memory on a CUDA device; None for the CPU (the data already lives in host memory)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return free


def choose_data_path(benchmark: Benchmark, requested: str, device: torch.device) -> DataPath:
    """`device` or `loader` as requested; `auto` picks `device` unless the data exceeds half the free memory."""
    if requested != "auto":
        return DataPath(requested, f"train.data_path = {requested!r}")
    need = benchmark_bytes(benchmark)
    free = free_device_bytes(device)
    if free is None:
        return DataPath(
            "device", f"auto: {device.type} trains from host memory, where the data already is ({need / 2**20:.0f} MiB)"
        )
    if need <= DEVICE_MEMORY_SHARE * free:
        return DataPath(
            "device", f"auto: {need / 2**20:.0f} MiB of uint8 data fit in {free / 2**20:.0f} MiB free on {device}"
        )
    return DataPath(
        "loader", f"auto: {need / 2**20:.0f} MiB of uint8 data exceed half of {free / 2**20:.0f} MiB free on {device}"
    )
