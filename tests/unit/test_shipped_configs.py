from pathlib import Path

import pytest
import yaml

from retain.experiment.build import load_config
from retain.scenarios import BENCHMARKS

ROOT = Path(__file__).parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
REPRODUCE = sorted((ROOT / "benchmarks" / "reproduce").glob("*.yaml"))


def test_there_are_configs():
    assert CONFIGS and REPRODUCE


@pytest.mark.parametrize("path", CONFIGS + REPRODUCE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_loads_and_validates(path):
    name = (yaml.safe_load(path.read_text()).get("benchmark") or {}).get("name")
    if name is not None and name not in BENCHMARKS:
        pytest.skip(f"benchmark {name!r} is not registered in this build (it needs the benchmark loaders)")
    cfg = load_config(path)
    assert cfg.scenario in ("til", "dil", "cil")


@pytest.mark.parametrize("path", REPRODUCE, ids=lambda p: p.name)
def test_every_reproduction_config_names_its_target(path):
    head = path.read_text().split("\nseed:")[0]
    assert "Target:" in head and "Table" in head and "Epochs:" in head, "paper, table, number and epoch conversion"
