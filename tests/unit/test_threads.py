"""`train.threads`: the choice of torch's CPU thread count, the cores a process may use, and the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types

import pytest
import torch
from torch import nn

from retain.config import parse_config
from retain.errors import ConfigError
from retain.experiment.point import run_point
from retain.training import threads
from retain.training.threads import (
    ThreadChoice,
    backbone_trial,
    busy_cores,
    cgroup_cpu_limit,
    choose_threads,
    sampled_busy_cores,
    usable_cores,
    using_threads,
)

MLP = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
CNN = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())


def test_a_number_is_taken_as_it_is():
    assert choose_threads(3, MLP, environ={"OMP_NUM_THREADS": "1"}).threads == 3


def test_auto_respects_omp_num_threads():
    choice = choose_threads("auto", CNN, environ={"OMP_NUM_THREADS": "2"}, cores=8, load=0.0)
    assert (choice.threads, choice.setting) == (2, "auto")
    assert "OMP_NUM_THREADS=2" in choice.reason


def test_auto_gives_a_small_mlp_one_thread_without_a_batch_to_try():
    assert choose_threads("auto", MLP, environ={}, cores=16, load=0.0).threads == 1


def fake_timer(seconds_per_thread: dict[int, float], calls: list[int]):
    def timer(threads: int) -> float:
        calls.append(threads)
        return seconds_per_thread[threads]

    return timer


def test_auto_gives_a_small_mlp_the_idle_cores_only_when_they_measure_faster():
    calls: list[int] = []
    faster = fake_timer({1: 1.0, 4: 0.5}, calls)
    choice = choose_threads("auto", MLP, environ={}, cores=4, load=0.0, timer=faster)
    assert choice.threads == 4 and "1 thread 1000.00 ms per pass, 4 threads 500.00 ms per pass" in choice.reason
    assert calls == [1, 4] * 4  # interleaved rounds
    barely = fake_timer({1: 1.0, 4: 0.95}, [])  # within the margin: one thread is the safer choice
    assert choose_threads("auto", MLP, environ={}, cores=4, load=0.0, timer=barely).threads == 1
    slower = fake_timer({1: 1.0, 2: 1.1}, [])
    assert choose_threads("auto", MLP, environ={}, cores=4, load=2.0, timer=slower).threads == 1


def test_auto_does_not_try_a_small_mlp_when_one_core_is_idle():
    def never(threads: int) -> float:
        raise AssertionError("no trial with one idle core")

    assert choose_threads("auto", MLP, environ={}, cores=2, load=1.0, timer=never).threads == 1


def test_the_trial_times_a_copy_and_leaves_the_model_and_the_random_streams_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    timer = backbone_trial(model, (4, 1, 3, 4))
    assert timer is not None and timer(1) > 0 and timer(2) > 0
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    choice = choose_threads("auto", model, environ={}, cores=2, load=0.0, input_shape=(4, 1, 3, 4))
    assert choice.threads in (1, 2) and "measured 1 thread" in choice.reason


def test_auto_gives_a_convolutional_model_the_idle_cores():
    assert choose_threads("auto", CNN, environ={}, cores=8, load=0.0).threads == 8
    assert choose_threads("auto", CNN, environ={}, cores=8, load=5.2).threads == 3
    assert choose_threads("auto", CNN, environ={}, cores=2, load=12.6).threads == 1


STAT_BEFORE = "cpu  300 0 100 600 0 0 0 0 0 0\ncpu0 100 0 0 300 0 0 0 0 0 0\ncpu1 200 0 100 300 0 0 0 0 0 0\nintr 1\n"
STAT_AFTER = "cpu  400 0 100 700 0 0 0 0 0 0\ncpu0 200 0 0 300 0 0 0 0 0 0\ncpu1 200 0 100 400 0 0 0 0 0 0\nintr 2\n"


def test_busy_cores_come_from_the_per_core_times_of_the_affinity():
    assert busy_cores(STAT_BEFORE, STAT_AFTER, {0, 1}) == pytest.approx(1.0)  # cpu0 busy, cpu1 idle
    assert busy_cores(STAT_BEFORE, STAT_AFTER, {1}) == pytest.approx(0.0)
    assert busy_cores(STAT_BEFORE, STAT_AFTER, {7}) is None  # not in the file: nothing known


def test_auto_uses_the_sampled_busy_cores_not_the_lagging_load_average(monkeypatch):
    # just after other work stopped: the 1-minute load average still says 2 cores busy, the sample none
    monkeypatch.setattr(threads, "sampled_busy_cores", lambda: 0.0)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    assert choose_threads("auto", CNN, environ={}, cores=2).threads == 2
    monkeypatch.setattr(threads, "sampled_busy_cores", lambda: None)  # no /proc/stat: the load average
    assert choose_threads("auto", CNN, environ={}, cores=2).threads == 1


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs /proc/stat")
def test_a_busy_loop_is_seen_by_the_sample():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        assert sampled_busy_cores(0.5) >= 0.7
    finally:
        spinner.kill()
        spinner.wait()


def test_the_sample_leaves_out_this_process_s_own_cpu_time(monkeypatch):
    # /proc/stat says one core was busy over the sample; how much of it was this process decides
    readings = iter([STAT_BEFORE, STAT_AFTER] * 2)
    monkeypatch.setattr(threads, "_read", lambda path: next(readings))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    for own_seconds, expected in ((0.0, 1.0), (0.75, 0.25)):  # e.g. its OpenMP workers still spinning
        clock, cpu = iter([0.0, 1.0]).__next__, iter([10.0, 10.0 + own_seconds]).__next__
        fake_time = types.SimpleNamespace(sleep=lambda s: None, monotonic=clock, process_time=cpu)
        monkeypatch.setattr(threads, "time", fake_time)
        assert sampled_busy_cores(1.0) == pytest.approx(expected)


def test_a_large_fully_connected_model_is_not_small():
    big = nn.Linear(3000, 2000)  # 6M parameters
    assert choose_threads("auto", big, environ={}, cores=4, load=0.0).threads == 4


def test_cgroup_v2_and_v1_quotas_are_read(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == 2.0


def test_usable_cores_is_capped_by_the_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a core
    assert usable_cores(tmp_path) == 1


def test_using_threads_sets_and_restores():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with using_threads(ThreadChoice(target, "auto", "test")):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("value", [0, -1, "many", 1.5])
def test_bad_thread_counts_are_refused(value):
    with pytest.raises(ConfigError, match="threads"):
        parse_config({"train": {"threads": value}})


def test_a_sweep_worker_passes_its_share_through_omp_num_threads(monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = {}

    def fake_run(cfg, **kwargs):
        import os

        seen["omp"] = os.environ.get("OMP_NUM_THREADS")
        raise RuntimeError("stop here")

    monkeypatch.setattr("retain.experiment.point.run", fake_run)
    with pytest.raises(RuntimeError):
        run_point({}, str(tmp_path / "p"), threads=3)
    assert seen["omp"] == "3"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a smaller value the user set is kept
    with pytest.raises(RuntimeError):
        run_point({}, str(tmp_path / "q"), threads=3)
    assert seen["omp"] == "1"


def test_env_json_records_the_choice(tmp_path, monkeypatch):
    from retain.experiment.run import run

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "sampled_busy_cores", lambda: 1.0)  # one core busy: one thread, no trial
    data = {"benchmark": {"name": "split_digits", "num_tasks": 2}, "train": {"epochs": 1}}
    run(data, out=tmp_path / "r", progress=False)
    env = json.loads((tmp_path / "r" / "env.json").read_text())
    assert (env["threads"], env["threads_setting"]) == (1, "auto")
    assert "small fully connected model and 1 of 2 usable cores idle" in env["threads_reason"]
    tried: list[tuple[int, ...]] = []

    def trial(model, shape):  # both cores idle: the run tries its batch shape, and two threads win here
        tried.append(shape)
        return lambda n: 1.0 / n

    monkeypatch.setattr(threads, "sampled_busy_cores", lambda: 0.0)
    monkeypatch.setattr(threads, "backbone_trial", trial)
    run(data, out=tmp_path / "r2", progress=False)
    env = json.loads((tmp_path / "r2" / "env.json").read_text())
    assert env["threads"] == 2 and "measured 1 thread" in env["threads_reason"]
    assert tried == [(64, 1, 8, 8)]  # train.batch_size and the digits' input shape


def test_sweep_workers_divide_the_usable_cores(monkeypatch):
    import retain.experiment.point as point

    monkeypatch.setattr(point, "usable_cores", lambda: 8)
    assert [point.default_threads(jobs) for jobs in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
