"""A run interrupted while its unlearning references train resumes to the results of an uninterrupted
run; reference folders given in the config are checked before anything is trained."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from retain.cli import main
from retain.errors import RunInterrupted
from retain.experiment.run import run
from tests.integration.interrupts import Crash, at_occurrence, crash

CONFIG = {
    "benchmark": {"name": "split_digits"},
    "algorithm": {"name": "amnesiac_lwf"},
    "train": {"epochs": 1, "device": "cpu"},
    "backbone": {"hidden": [8]},
    "unlearning": {"requests": {4: [2]}},
}
FAST = [
    "--set",
    "benchmark.name=split_digits",
    "--set",
    "algorithm.name=amnesiac_lwf",
    "--set",
    "train.epochs=1",
    "--set",
    "train.device=cpu",
    "--set",
    "backbone.hidden=[8]",
    "--set",
    "unlearning.requests={4: [2]}",
    "--quiet",
]
TIMING = ("train_seconds_per_task", "total_seconds")


def without_seconds(data: Any) -> Any:
    """`data` without its wall-clock fields (every key naming seconds), at any depth."""
    if isinstance(data, dict):
        return {k: without_seconds(v) for k, v in data.items() if "seconds" not in k}
    if isinstance(data, list):
        return [without_seconds(v) for v in data]
    return data


def results(folder: Path) -> tuple[dict, dict]:
    """unlearning.json (without the reference paths and seconds) and summary.json (without wall-clock fields)."""
    unlearning = without_seconds(json.loads((folder / "unlearning.json").read_text()))
    unlearning.pop("references")
    assert unlearning["relapse"]["attack_after_request"]  # compared below, with the rest
    summary = json.loads((folder / "summary.json").read_text())
    return unlearning, {k: v for k, v in summary.items() if k not in TIMING}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    run(CONFIG, out=out, progress=False)
    return out


@pytest.mark.parametrize(
    "point,nth,original_state",
    [
        ((1, 1, 0), 2, "set aside"),  # original reference: folder written, no checkpoint yet
        ((3, 1, 1), 2, "resumed"),  # original reference after two task checkpoints
        ((2, 1, 0), 3, "reused"),  # retrain reference; the original one is finished
    ],
)
def test_crash_while_a_reference_trains_resumes_the_outer_run_to_the_same_results(
    tmp_path, uninterrupted, point, nth, original_state
):
    out = tmp_path / "run"
    with pytest.raises(Crash):
        run(CONFIG, out=out, progress=False, step_hook=at_occurrence(point, nth, crash))
    assert max(p.name for p in (out / "checkpoints").iterdir()) == "task_05.pt"
    assert not (out / "summary.json").exists() and (out / "references" / "original").is_dir()
    finished_original = (out / "references" / "original" / "summary.json").exists()
    assert finished_original == (original_state == "reused")
    before = (out / "references" / "original" / "model.pt").read_bytes() if finished_original else None
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert results(out) == results(uninterrupted)
    for name in ("original", "retrain"):
        assert (
            json.loads((out / "references" / name / "summary.json").read_text())["accuracy_matrix"]
            == json.loads((uninterrupted / "references" / name / "summary.json").read_text())["accuracy_matrix"]
        )
    if before is not None:  # reused as is, not trained again
        assert (out / "references" / "original" / "model.pt").read_bytes() == before
    aside = sorted(p.name for p in (out / "references").iterdir() if ".partial-" in p.name)
    assert aside == (["original.partial-1"] if original_state == "set aside" else [])


def test_ctrl_c_while_a_reference_trains_says_to_resume_the_outer_run(tmp_path, uninterrupted):
    out = tmp_path / "run"
    hook = at_occurrence((2, 1, 1), 3, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(RunInterrupted) as info:
        run(CONFIG, out=out, progress=False, step_hook=hook)
    message = str(info.value)
    assert "retrain reference" in message and message.endswith(f"Resume the whole run with: retain run --resume {out}")
    assert f"--resume {out / 'references'}" not in message
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert results(out) == results(uninterrupted)


def test_a_finished_reference_folder_is_reused_and_reported(tmp_path, uninterrupted):
    out = tmp_path / "run"
    original = uninterrupted / "references" / "original"
    assert main(["run", *FAST, "--set", f"unlearning.original_reference={original}", "--out", str(out)]) == 0
    assert not (out / "references" / "original").exists()
    report = json.loads((out / "unlearning.json").read_text())
    assert report["references"]["original"] == str(original)
    assert results(out) == results(uninterrupted)


@pytest.mark.parametrize(
    "key,folder,change,named",
    [
        ("original_reference", "nowhere", None, "no such folder"),
        ("retrain_reference", "unfinished", None, "summary.json missing"),
        ("retrain_reference", "references/original", None, "its benchmark differs"),
        ("original_reference", "references/original", ("seed", 3), "its seed differs"),
        ("original_reference", "references/original", ("train.epochs", 2), "train.epochs"),
        (
            "original_reference",
            "references/original",
            ("algorithm.name", "amnesiac_finetuning"),
            "its algorithm differs",
        ),
    ],
)
def test_a_bad_reference_folder_is_refused_before_training(tmp_path, uninterrupted, capsys, key, folder, change, named):
    given = tmp_path / "given"
    if folder == "unfinished":
        given.mkdir()
        (given / "config.yaml").write_text((uninterrupted / "references" / "retrain" / "config.yaml").read_text())
    elif folder != "nowhere":
        given = uninterrupted / folder
    out = tmp_path / "run"
    overrides = [] if change is None else ["--set", f"{change[0]}={change[1]}"]
    code = main(["run", *FAST, *overrides, "--set", f"unlearning.{key}={given}", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"unlearning.{key} = '{given}' is not valid" in err and named in err, err
    assert err.count("\n") == 1 and not out.exists()


def test_retain_unlearn_still_uses_its_source_as_the_original_reference(tmp_path):
    source = tmp_path / "source"
    cfg = {k: v for k, v in CONFIG.items() if k != "unlearning"}
    run(cfg, out=source, progress=False)
    assert main(["unlearn", str(source), "--tasks", "2", "--out", str(tmp_path / "target")]) == 0
    assert yaml.safe_load((tmp_path / "target" / "config.yaml").read_text())["unlearning"]["original_reference"] == str(
        source
    )


def test_a_crash_after_the_request_resumes_with_the_attack_rows_found_before_it(tmp_path, uninterrupted):
    out = tmp_path / "run"
    with pytest.raises(Crash):  # task 5's first step: rows 1-4 (the request's row 4 attacked) are checkpointed
        run(CONFIG, out=out, progress=False, step_hook=at_occurrence((5, 1, 0), 1, crash))
    assert max(p.name for p in (out / "checkpoints").iterdir()) == "task_04.pt"
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert results(out) == results(uninterrupted)
    assert set(results(out)[0]["relapse"]["attack_after_request"]) == {"4", "5"}
