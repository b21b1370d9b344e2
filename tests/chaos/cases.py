"""The malformed-input cases of the chaos tier, shared by its tests and `figures.py`: each builds its
input in a temporary folder and returns the `retain` arguments to run and a phrase the one-line error holds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())
FAST = ["--set", "train.epochs=1", "--set", "backbone.hidden=[8]", "--set", "benchmark.num_tasks=2", "--quiet"]
IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

Case = Callable[[Path, Path], tuple[list[str], str]]  # (tmp folder, a finished run folder) -> (argv, phrase)


def _config(name: str) -> Case:
    def case(tmp: Path, run: Path) -> tuple[list[str], str]:
        argv = ["run", "--config", str(CORPUS / name), "--set", "train.epochs=1", "--quiet", "--out", str(tmp / "out")]
        return argv, EXPECTED[name]

    return case


def _summary(name: str) -> Case:
    def case(tmp: Path, run: Path) -> tuple[list[str], str]:
        folder = tmp / "run"
        folder.mkdir()
        shutil.copy(run / "config.yaml", folder / "config.yaml")
        shutil.copy(CORPUS / name, folder / "summary.json")
        return ["report", str(folder), "--out", str(tmp / "report")], EXPECTED[name]

    return case


def _data(name: str) -> Case:
    def case(tmp: Path, run: Path) -> tuple[list[str], str]:
        source = CORPUS / name
        if name.endswith(".npz"):
            where = ["--set", "benchmark.name=custom", "--set", f"benchmark.path={source}"]
        elif name.endswith(".png"):  # an ImageFolder tree holding the bomb
            for split in ("train", "test"):
                for label in ("a", "b"):
                    (tmp / "images" / split / label).mkdir(parents=True)
                    shutil.copy(source, tmp / "images" / split / label / "x.png")
            where = ["--set", "benchmark.name=custom", "--set", f"benchmark.path={tmp / 'images'}"]
        else:  # an MNIST folder whose training images have the forged header
            (tmp / "mnist").mkdir()
            for i, stem in enumerate(IDX):
                (tmp / "mnist" / stem).write_bytes(
                    source.read_bytes() if i == 0 else b"\x00\x00\x08\x01\x00\x00\x00\x00"
                )
            where = ["--set", "benchmark.name=split_mnist", "--set", f"benchmark.root={tmp / 'mnist'}"]
        return ["run", *FAST, *where, "--out", str(tmp / "out")], EXPECTED[name]

    return case


def _special(kind: str) -> Case:
    def case(tmp: Path, run: Path) -> tuple[list[str], str]:
        if kind == "dev_zero":
            return ["run", "--config", "/dev/zero", *FAST], "larger than"
        if kind == "long_seed":
            return ["run", *FAST, "--set", "seed=" + "9" * 5000], "cannot be read"
        if kind == "dangling_out":
            (tmp / "out").symlink_to(tmp / "nowhere")
            return ["run", *FAST, "--out", str(tmp / "out")], "dangling symbolic link"
        if kind == "resume_not_utf8":
            folder = tmp / "killed"  # killed before its first checkpoint: its config.yaml is what resume reads
            folder.mkdir()
            (folder / "config.yaml").write_bytes(b"seed: \xff\n")
            return ["run", "--resume", str(folder), "--quiet"], "not UTF-8"
        if kind == "damaged_model":
            folder = tmp / "run"
            shutil.copytree(run, folder)
            (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes()[:300])
            return ["unlearn", str(folder), "--tasks", "1", "--no-evaluate"], "model.pt cannot be loaded"
        if kind == "linked_metrics":
            folder = tmp / "run"
            shutil.copytree(run, folder)
            (folder / "summary.json").unlink()
            (folder / "metrics.jsonl").unlink()
            (tmp / "victim").write_text("x" * 100_000)
            (folder / "metrics.jsonl").symlink_to(tmp / "victim")
            return ["run", "--resume", str(folder), "--quiet"], "is a symbolic link"
        raise KeyError(kind)

    return case


SPECIAL = ("dev_zero", "long_seed", "dangling_out", "resume_not_utf8", "damaged_model", "linked_metrics")
CASES: dict[str, Case] = {
    **{name: _config(name) for name in EXPECTED if name.startswith("configs/")},
    **{name: _summary(name) for name in EXPECTED if name.startswith("summaries/")},
    **{name: _data(name) for name in EXPECTED if name.startswith("data/")},
    **{kind: _special(kind) for kind in SPECIAL},
}
