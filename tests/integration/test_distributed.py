"""torchrun with 2 CPU processes (gloo) gives the accuracy matrix of one process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from retain.algorithms.base import Batch
from retain.training.distributed import Distributed

SRC = str(Path(__file__).resolve().parents[2] / "src")
ARGS = ["--set", "train.epochs=2", "--set", "backbone.hidden=[32]", "--set", "benchmark.num_tasks=2", "--quiet"]


def retain(prefix, *args, out):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.run(
        [*prefix, "-m", "retain", "run", *args, *ARGS, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    # the ranks' own messages come first, torchrun's summary last: show both ends
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-1500:]
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("algorithm", ["lwf", "joint"])
def test_two_processes_match_one(tmp_path, algorithm):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = retain(torchrun, "--set", f"algorithm.name={algorithm}", "--set", "train.batch_size=63", out=tmp_path / "two")
    one = retain(
        [sys.executable], "--set", f"algorithm.name={algorithm}", "--set", "train.batch_size=63", out=tmp_path / "one"
    )
    for row_two, row_one in zip(two["accuracy_matrix"], one["accuracy_matrix"]):
        assert row_two == pytest.approx(row_one, abs=1e-4)
    assert not (tmp_path / "two" / "rank1").exists()


def test_shards_cover_the_batch_and_weights_average_to_the_mean():
    batch = Batch(torch.arange(10.0).view(10, 1), torch.arange(10), None, torch.arange(10))
    parts = [Distributed(r, 3).shard(batch) for r in range(3)]
    assert sorted(torch.cat([p.y for p, _ in parts]).tolist()) == list(range(10))
    # DDP averages the ranks' gradients: Σ_r share_r · mean_r / W must be the batch mean
    values = torch.arange(10.0)
    total = sum(share * values[p.y].mean() for p, share in parts) / 3
    assert total.item() == pytest.approx(values.mean().item())


def test_a_rank_without_samples_joins_with_weight_zero():
    batch = Batch(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long))
    local, share = Distributed(1, 2).shard(batch)
    assert len(local.y) == 1 and share == 0.0
    assert Distributed().shard(batch) == (batch, 1.0)


class _FakeGroup:
    """Stands in for torch.distributed: records what a process does with the group."""

    def __init__(self):
        self.calls, self.up = [], False

    def is_initialized(self):
        return self.up

    def init_process_group(self, backend):
        self.calls.append(("init", backend))
        self.up = True

    def get_rank(self):
        return 1

    def get_world_size(self):
        return 2

    def barrier(self):
        self.calls.append("barrier")

    def destroy_process_group(self):
        self.calls.append("destroy")
        self.up = False

    def install(self, monkeypatch, distributed):
        monkeypatch.setattr(distributed, "dist", self)
        # DDP wrappers live in reference cycles: they must be collected before the group is destroyed
        monkeypatch.setattr(distributed.gc, "collect", lambda: self.calls.append("collect"))


def test_the_outermost_run_leaves_the_group_after_a_barrier_and_a_nested_one_keeps_it(monkeypatch):
    from retain.training import distributed

    fake = _FakeGroup()
    fake.install(monkeypatch, distributed)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with distributed.process_group(torch.device("cpu")) as (ranks, device):
        assert ranks == Distributed(1, 2) and device.type == "cpu"
        with distributed.process_group(torch.device("cpu")):
            pass
        assert fake.calls == [("init", "gloo")]  # the nested run neither waits nor destroys
    # a rank must not exit (tearing down gloo) while rank 0 still writes the run folder
    assert fake.calls == [("init", "gloo"), "barrier", "collect", "destroy"]


def test_a_failing_run_still_leaves_the_group(monkeypatch):
    from retain.training import distributed

    fake = _FakeGroup()
    fake.install(monkeypatch, distributed)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError), distributed.process_group(torch.device("cpu")):
        raise RuntimeError("boom")
    assert fake.calls == [("init", "gloo"), "collect", "destroy"]


def test_one_process_joins_no_group(monkeypatch):
    from retain.training import distributed

    fake = _FakeGroup()
    fake.install(monkeypatch, distributed)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.process_group(torch.device("cpu")) as (ranks, _):
        assert not ranks.active
    assert fake.calls == []


def _with_batchnorm():
    from retain.models import ContinualModel, HeadDIL

    backbone = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten())
    backbone.output_dim = 4 * 4 * 4
    return ContinualModel(backbone, HeadDIL(backbone.output_dim))


def test_batchnorm_is_synchronised_across_cuda_ranks_with_unchanged_names():
    from retain.training.distributed import synchronise_batchnorm

    model = _with_batchnorm()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # conversion itself needs no GPU; only SyncBatchNorm's forward under DDP does
    assert synchronise_batchnorm(model, Distributed(0, 2), torch.device("cuda"), "auto")
    assert isinstance(model.backbone[1], torch.nn.SyncBatchNorm)
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value)


def test_batchnorm_stays_per_rank_on_cpu_with_a_warning_and_true_is_refused():
    from retain.errors import ConfigError
    from retain.training.distributed import synchronise_batchnorm

    model = _with_batchnorm()
    with pytest.warns(UserWarning, match="per rank"):
        assert not synchronise_batchnorm(model, Distributed(1, 2), torch.device("cpu"), "auto")
    assert type(model.backbone[1]) is torch.nn.BatchNorm2d
    with pytest.raises(ConfigError, match="sync_batchnorm"):
        synchronise_batchnorm(model, Distributed(1, 2), torch.device("cpu"), True)


@pytest.mark.parametrize("context,mode", [(Distributed(), True), (Distributed(0, 2), False)])
def test_batchnorm_is_left_alone_in_one_process_or_when_switched_off(context, mode):
    from retain.training.distributed import synchronise_batchnorm

    model = _with_batchnorm()
    assert not synchronise_batchnorm(model, context, torch.device("cuda"), mode)
    assert type(model.backbone[1]) is torch.nn.BatchNorm2d


def test_sync_batchnorm_is_validated_in_the_config():
    from retain.errors import ConfigError
    from retain.experiment.build import config_from_dict

    assert config_from_dict({"train": {"sync_batchnorm": False}}).train.sync_batchnorm is False
    with pytest.raises(ConfigError, match="sync_batchnorm"):
        config_from_dict({"train": {"sync_batchnorm": "sometimes"}})


def test_only_rank_zero_logs_to_a_tracker(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'retain[mlflow]')")
    from mlflow.tracking import MlflowClient

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    retain(torchrun, "--set", "logging.mlflow=true", out=tmp_path / "two")
    client = MlflowClient(tracking_uri=f"sqlite:///{(tmp_path / 'two' / 'mlruns' / 'mlflow.db').resolve()}")
    (found,) = client.search_runs([client.get_experiment_by_name("retain").experiment_id])  # one run, not two
    assert [m.step for m in client.get_metric_history(found.info.run_id, "train/loss")] == [1, 2, 3, 4]
