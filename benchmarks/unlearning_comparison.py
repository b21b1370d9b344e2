"""The unlearning comparison of docs/unlearning.md: amnesiac vs rewind vs the retrain reference vs the
original, on one benchmark, scenario and seed per call (LwF, MLP, 5 tasks, unlearn task 2 after task 4).

Per (scenario, seed): an amnesiac run (which trains the original reference and the retrain reference,
the latter from the run's checkpoint after task 1), a rewind run judged against those same references,
and the retrain reference trained from scratch (for the saving of starting it from the checkpoint).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/unlearning_comparison.py \
        --benchmark permuted_fmnist --scenario dil --seed 0 --out benchmarks/results/unlearning_comparison

writes OUT/<benchmark>-<scenario>-seed<S>.json (the headline numbers of each) and keeps the run folders
under OUT/runs/ only with --keep-runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from retain.experiment.run import run

KEYS = (
    "ag",
    "dd",
    "unlearned_model_accuracy_on_unlearned",
    "retrain_reference_accuracy_on_unlearned",
    "original_reference_accuracy_on_unlearned",
    "relapse_max",
    "unlearning_seconds",
    "bytes_kept",
    "retrain_reference_seconds",
    *(
        f"mia_{k}{m}"
        for m in ("", "_retrain", "_original")
        for k in ("auc", "member_rate", "member_rate_test", "attack_auc")
    ),
    "lira_in_fraction",
)


def config(benchmark: str, scenario: str, seed: int, epochs: int, method: str) -> dict[str, Any]:
    return {
        "seed": seed,
        "scenario": scenario,
        "benchmark": {"name": benchmark, "num_tasks": 5},
        "backbone": {"name": "mlp"},
        "algorithm": {"name": "lwf"},
        "train": {"epochs": epochs, "device": "cpu"},
        "unlearning": {"method": method, "requests": {4: [2]}},
    }


def _mean_std(values: list[float]) -> str:
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {std:.3f}" if len(values) > 1 else f"{mean:.3f}"


def table(out: Path, benchmark: str) -> str:
    """The markdown table of docs/unlearning.md: mean ± std over the seeds found in `out`."""
    lines = [
        "| scenario | model | seeds | AG | DD | acc. task 2 | relapse | MIA AUC | member rate train / test "
        "| attack AUC | LiRA in-fraction | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in ("til", "dil"):
        runs = [json.loads(f.read_text()) for f in sorted(out.glob(f"{benchmark}-{scenario}-seed*.json"))]
        if not runs:
            continue
        n = len(runs)
        rows = {
            "amnesiac": ("amnesiac", "", "unlearned_model", "unlearning_seconds"),
            "rewind": ("rewind", "", "unlearned_model", "unlearning_seconds"),
            "retrain reference": ("rewind", "_retrain", "retrain_reference", None),
            "original reference": ("amnesiac", "_original", "original_reference", None),
        }
        for label, (method, m, acc, secs) in rows.items():
            r = [run[method] for run in runs]

            def col(key: str, rs: list[dict[str, Any]] = r) -> str:
                values = [x[key] for x in rs if x.get(key) is not None]
                return _mean_std(values) if values else "–"

            model_only = label in ("amnesiac", "rewind")
            seconds = (
                col(secs)
                if secs
                else (_mean_std([run["retrain_from_scratch_seconds"] for run in runs]) if "retrain" in label else "–")
            )
            lines.append(
                f"| {scenario.upper()} | {label} | {n} | {col('ag') if model_only else '–'} "
                f"| {col('dd') if model_only else '–'} | {col(acc + '_accuracy_on_unlearned')} "
                f"| {col('relapse_max') if model_only else '–'} | {col('mia_auc' + m)} "
                f"| {col('mia_member_rate' + m)} / {col('mia_member_rate_test' + m)} | {col('mia_attack_auc' + m)} "
                f"| {col('lira_in_fraction') if model_only else '–'} | {seconds} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--benchmark", default="permuted_fmnist")
    parser.add_argument("--scenario", default="dil")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/unlearning_comparison"))
    parser.add_argument("--keep-runs", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the markdown table of the results in --out")
    args = parser.parse_args()
    if args.table:
        print(table(args.out, args.benchmark))
        return
    torch.set_num_threads(1)
    work = args.out / "runs" if args.keep_runs else Path(tempfile.mkdtemp())
    name = f"{args.benchmark}-{args.scenario}-seed{args.seed}"
    results: dict[str, Any] = {"threads": torch.get_num_threads()}
    try:
        cfg = config(args.benchmark, args.scenario, args.seed, args.epochs, "amnesiac")
        clock = time.perf_counter()
        amnesiac = run(cfg, out=work / f"{name}-amnesiac", progress=False)
        results["amnesiac_wall_seconds"] = time.perf_counter() - clock
        refs = work / f"{name}-amnesiac" / "references"
        cfg = config(args.benchmark, args.scenario, args.seed, args.epochs, "rewind")
        cfg["unlearning"].update(original_reference=str(refs / "original"), retrain_reference=str(refs / "retrain"))
        rewind = run(cfg, out=work / f"{name}-rewind", progress=False)
        scratch_cfg = config(args.benchmark, args.scenario, args.seed, args.epochs, "none")
        scratch_cfg["benchmark"]["without"] = [2]
        scratch_cfg["unlearning"] = {}
        scratch = run(scratch_cfg, write=False, progress=False)
        same = all(
            torch.equal(a, b)
            for a, b in zip(
                rewind.algorithm.model.state_dict().values(), scratch.algorithm.model.state_dict().values(), strict=True
            )
        )
        for label, result in (("amnesiac", amnesiac), ("rewind", rewind)):
            assert result.unlearning is not None
            results[label] = {k: result.unlearning.get(k) for k in KEYS}
            results[label]["final_row"] = result.summary["accuracy_matrix"][-1]
            results[label]["reference_training"] = result.unlearning["reference_training"]
        results["rewind_equals_retrain_from_scratch"] = same
        results["retrain_from_scratch_seconds"] = sum(scratch.summary["train_seconds_per_task"])
        results["original_final_row"] = json.loads((refs / "original" / "summary.json").read_text())["accuracy_matrix"][
            -1
        ]
    finally:
        if not args.keep_runs:
            shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
