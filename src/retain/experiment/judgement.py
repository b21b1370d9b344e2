"""The parts of `unlearning.json` that need the whole run: what the unlearning cost, whether the unlearned
tasks came back (relapse), and the headline numbers the report and its table show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retain.algorithms.base import Algorithm
from retain.config import Config
from retain.metrics.unlearning import relapse


def amnesiac_costs(algorithm: Algorithm) -> dict[str, Any] | None:
    """The cost of an Amnesiac run's requests: seconds of each unlearning step and the bytes of the
    update records it needed (kept from the start of the run); None for an algorithm without them."""
    costs = getattr(algorithm, "costs", None)
    if not costs:
        return None
    return {
        "method": "amnesiac",
        "seconds": sum(c["seconds"] for c in costs),
        "bytes_kept": max(c["records_bytes"] for c in costs),
        "per_request": list(costs),
    }


def complete_report(
    report: dict[str, Any],
    cfg: Config,
    matrix: Sequence[Sequence[float]],
    cost: dict[str, Any] | None,
    attacks: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Add cost (against the retrain reference's training seconds), relapse and the headline numbers.
    `attacks`: the population attack on the live model after each task from the first request on (row →
    its numbers), whose AUC's largest rise after the first request is the attack's relapse."""
    training = report.get("reference_training", {})
    retrain_seconds = training.get("retrain_seconds", 0.0) + training.get("retrain_seconds_saved", 0.0)
    if cost is not None:
        report["cost"] = {**cost, "retrain_reference_seconds": retrain_seconds}
        report["unlearning_seconds"] = cost["seconds"]
        report["bytes_kept"] = cost["bytes_kept"]
    report["retrain_reference_seconds"] = retrain_seconds
    per_task = relapse(matrix, cfg.unlearning.requests)
    rises = [r["relapse"] for r in per_task.values() if r["relapse"] is not None]
    report["relapse"] = {"per_task": {str(u): r for u, r in per_task.items()}, "max": max(rises) if rises else None}
    report["relapse_max"] = report["relapse"]["max"]
    if attacks:
        rows = sorted(attacks)
        report["relapse"]["attack_after_request"] = {str(t): dict(attacks[t]) for t in rows}
        aucs = [float(attacks[t]["auc"]) for t in rows]
        report["relapse"]["attack_auc_rise"] = max(a - aucs[0] for a in aucs[1:]) if len(aucs) > 1 else None
    attacks = report.get("membership")
    if attacks:
        population = attacks["population"]
        models = {"unlearned_model": "", "retrain_reference": "_retrain", "original_reference": "_original"}
        for name, short in models.items():
            for key in ("auc", "member_rate", "member_rate_test", "attack_auc"):
                report[f"mia_{key}{short}"] = population[name][key]
        report["lira_in_fraction"] = attacks["likelihood_ratio"]["unlearned_model"]["in_fraction"]
    return report
