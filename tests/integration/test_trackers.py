"""`logging.wandb` / `logging.mlflow`: a tiny run logged to each library's offline/local store, read back."""

import json
import struct
import sys
import time

import pytest

from retain.errors import ConfigError
from retain.experiment.run import run
from retain.runs.trackers import numbers, open_trackers

TINY = {"benchmark": {"num_tasks": 2}, "backbone": {"hidden": [8]}, "train": {"epochs": 2}}


def config(**logging):
    return {**TINY, "logging": logging}


def test_mlflow_local_store_has_terms_matrix_config_and_summary(tmp_path):
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'retain[mlflow]')")
    from mlflow.tracking import MlflowClient

    result = run(config(mlflow={"experiment": "tiny"}), out=tmp_path / "run", progress=False)
    client = MlflowClient(tracking_uri=f"sqlite:///{(tmp_path / 'run' / 'mlruns' / 'mlflow.db').resolve()}")
    (found,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert found.info.status == "FINISHED" and found.info.run_name == "run"
    history = {key: client.get_metric_history(found.info.run_id, key) for key in found.data.metrics}
    assert [m.step for m in history["train/loss"]] == [1, 2, 3, 4]  # 2 tasks × 2 epochs
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in epochs if e["event"] == "epoch"]
    assert [m.value for m in history["train/loss"]] == pytest.approx(losses)  # the terms of metrics.jsonl
    assert {"train/loss_cls", "train/distillation_reg", "train/acc", "train/seconds", "test/task_2"} <= set(history)
    final = result.summary["final_average_accuracy"]
    assert found.data.metrics["summary/final_average_accuracy"] == pytest.approx(final)
    assert found.data.params["train.epochs"] == "2" and found.data.params["algorithm.name"] == "lwf"
    artifacts = tmp_path / "run" / "mlruns"
    matrix = next(artifacts.rglob("after_task_2.json"))
    assert json.loads(matrix.read_text())["accuracy_matrix"] == result.summary["accuracy_matrix"]
    assert next(artifacts.rglob("summary.json")) and next(artifacts.rglob("config.json"))


def test_wandb_offline_run_has_terms_matrix_config_and_summary(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb is not installed (pip install 'retain[wandb]')")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = run(config(wandb={"project": "tiny", "tags": ["test"]}), out=tmp_path / "run", progress=False)
    (offline,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    (records,) = offline.glob("*.wandb")
    for _ in range(300):  # wandb's service process may still be writing the file when finish() returns
        if any(r.WhichOneof("record_type") == "exit" for r in wandb_records(records)):
            break
        time.sleep(0.1)
    history, summary, cfg = read_wandb(records)
    losses = [h["train/loss"] for h in history if "train/loss" in h]
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert losses == pytest.approx([e["loss"] for e in epochs if e["event"] == "epoch"])
    assert [h["_step"] for h in history if "train/loss" in h] == [1, 2, 3, 4]
    assert [h["_step"] for h in history if "accuracy_matrix/_type" in h] == [2, 4]  # after each task
    assert [h["test/task_2"] for h in history if "test/task_2" in h] == [result.summary["accuracy_matrix"][1][1]]
    tables = sorted((offline / "files" / "media" / "table").glob("accuracy_matrix_4_*.table.json"))
    rows = json.loads(tables[-1].read_text())["data"]
    assert [row[1 : 1 + t] for t, row in enumerate(rows, start=1)] == result.summary["accuracy_matrix"]
    assert summary["final_average_accuracy"] == pytest.approx(result.summary["final_average_accuracy"])
    assert cfg["train"]["epochs"] == 2 and cfg["algorithm"]["name"] == "lwf"


def wandb_records(path):
    """The protobuf records of an offline `.wandb` file: LevelDB's log format (a 7-byte file header, 32 KiB
    blocks, records split as FULL=1 / FIRST / MIDDLE / LAST=4 behind a crc32, length, type header)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, pending, block = path.read_bytes(), 7, b"", 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the rest of a block too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending, pos = pending + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def read_wandb(path):
    """History rows, final summary and config of an offline W&B run."""
    history, summary, cfg = [], {}, {}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "summary":
            summary.update(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.summary.update}
            )
        elif kind == "run":
            cfg = {item.key: json.loads(item.value_json) for item in record.run.config.update}
    return history, summary, {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in cfg.items()}


@pytest.mark.parametrize("key", ["wandb", "mlflow"])
def test_a_missing_library_is_one_line_before_the_run_folder(tmp_path, monkeypatch, key):
    monkeypatch.setitem(sys.modules, key, None)
    with pytest.raises(ConfigError, match=rf"logging.{key}.*pip install \"retain\[{key}\]\""):
        run(config(**{key: True}), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["wandb", "mlflow"])
def test_trackers_need_a_run_folder(key):
    with pytest.raises(ConfigError, match="run folder"):
        run(config(**{key: True}), write=False, progress=False)


def test_only_rank_zero_opens_trackers(tmp_path):
    from retain.experiment.build import config_from_dict

    cfg = config_from_dict(config(wandb=True, mlflow=True))
    assert open_trackers(cfg, tmp_path, rank=1) == [] and open_trackers(cfg, None, rank=0) == []


def test_summary_numbers_are_flattened_for_trackers():
    summary = {
        "bwt": -0.1,
        "per_task": [0.5, 0.7],
        "nested": {"x": 1},
        "flag": True,
        "name": "lwf",
        "nan": float("nan"),
    }
    assert numbers(summary) == {"bwt": -0.1, "per_task/1": 0.5, "per_task/2": 0.7, "nested/x": 1.0}
