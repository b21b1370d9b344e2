"""`logging.tensorboard: true` writes losses, accuracies and the accuracy matrix as an image."""

import sys

import pytest

from retain.errors import ConfigError
from retain.experiment.run import run

TINY = {
    "benchmark": {"num_tasks": 2},
    "backbone": {"hidden": [8]},
    "train": {"epochs": 2},
    "logging": {"tensorboard": True},
}


def test_tensorboard_event_file_has_scalars_and_matrix_image(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(TINY, out=tmp_path / "run", progress=False)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "train/loss_cls",
        "train/distillation_reg",
        "train/acc",
        "test/task_1",
        "test/task_2",
        "test/average_accuracy",
    } <= scalars
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]  # 2 tasks × 2 epochs
    assert [e.step for e in events.Scalars("test/task_1")] == [1, 2]
    images = events.Images("accuracy_matrix")
    assert [i.step for i in images] == [1, 2] and images[-1].width > 50


def test_tensorboard_missing_is_a_clear_error_before_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"logging.tensorboard.*pip install tensorboard"):
        run(TINY, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_tensorboard_needs_a_run_folder():
    with pytest.raises(ConfigError, match="run folder"):
        run(TINY, write=False, progress=False)
