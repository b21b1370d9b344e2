"""Re-test a finished run's task checkpoints with another classifier, without training again.

`eval.classifier` changes only how the model is tested, so the accuracy matrix of a `head` run's
checkpoints re-tested with `nme` is that of the same run trained with `eval.classifier: nme`
(tests/integration/test_memory.py checks it). Used for docs/results.md:

    python benchmarks/retest.py RUN_FOLDER --classifier nme [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from retain.config import read_config_data
from retain.experiment.build import build, config_from_dict
from retain.metrics import old_new_accuracy, summarise
from retain.runs.checkpoint import load_checkpoint, task_file
from retain.training.data import test_batches
from retain.training.evaluate import accuracy


def retest(folder: Path, classifier: str, device: torch.device | None = None) -> dict[str, Any]:
    """The metrics of `folder`'s accuracy matrix recomputed from its task checkpoints with `classifier`."""
    data = read_config_data(folder / "config.yaml")
    data["eval"] = {**(data.get("eval") or {}), "classifier": classifier}
    cfg = config_from_dict(data)
    device = device or torch.device("cpu")
    benchmark, algorithm = build(cfg)
    model = algorithm.model.to(device)
    matrix = []
    for task in benchmark.tasks:
        state = load_checkpoint(folder / "checkpoints" / task_file(task.id))
        model.heads.setup_task(task.id, task.num_classes)
        model.heads.to(device)
        model.load_state_dict(state["model"])
        algorithm.load_state_dict(state["algorithm"])
        tests = [test_batches(t, benchmark, device) for t in benchmark.tasks[: task.id]]
        matrix.append([accuracy(algorithm, b, j + 1, task.id, cfg.train.eval_batch_size) for j, b in enumerate(tests)])
    return {**summarise(matrix), **old_new_accuracy(matrix), "classifier": classifier, "run": str(folder)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--classifier", default="nme", choices=("head", "nme"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = retest(args.run, args.classifier)
    print(json.dumps({k: result[k] for k in ("final_average_accuracy", "old_class_accuracy", "new_class_accuracy")}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
