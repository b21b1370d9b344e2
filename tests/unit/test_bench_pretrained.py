"""The ViT harness of `benchmarks/gpu.sh vit`: its shell part parses, its python part runs at tiny size on CPU."""

import json
import subprocess
from pathlib import Path

import pytest

from retain.bench.pretrained import main, table

ROOT = Path(__file__).parents[2]


def test_gpu_sh_parses_and_knows_the_vit_part():
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu.sh")], check=True)
    text = (ROOT / "benchmarks" / "gpu.sh").read_text()
    assert "retain.bench.pretrained" in text and "all|resnet|mlp|vit" in text


def test_the_tiny_run_measures_every_case(tmp_path):
    pytest.importorskip("timm")
    out = tmp_path / "vit.json"
    assert main(["--tiny", "--device", "cpu", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["case"] for r in rows] == ["frozen_cached", "frozen_live", "trainable"]
    assert all(r["train_seconds"] > 0 and r["total_seconds"] >= r["train_seconds"] for r in rows)
    assert "| frozen_cached |" in out.with_suffix(".md").read_text()


def test_unknown_cases_are_refused(capsys):
    assert main(["--tiny", "--cases", "frozen,trainable"]) == 2
    assert "unknown ['frozen']" in capsys.readouterr().err


def test_the_table_gives_speed_ups_against_the_live_and_trainable_cases():
    rows = [
        {"case": "frozen_cached", "train_seconds": 1.0, "total_seconds": 2.0, "peak_memory_mib": 10},
        {"case": "frozen_live", "train_seconds": 4.0, "total_seconds": 5.0, "peak_memory_mib": 10},
        {"case": "trainable", "train_seconds": 12.0, "total_seconds": 13.0, "peak_memory_mib": 20},
    ]
    first = table(rows).splitlines()[2]
    assert first.startswith("| frozen_cached | 1.00 | 2.00 | 4.0 | 12.0 |")
