"""LwF on a ViT, frozen and trainable: what the frozen backbone's features-once path saves (issue 13).

Synthetic Split CIFAR-100-shaped data (3×32×32 uint8 images, 100 classes, class-incremental), resized to
the model's input size on the device, LwF `per_task` (its teacher targets cached: no augmentation). The
model is a timm architecture with random weights (`pretrained=False`: nothing is downloaded; the timings
are those of the pretrained model, the accuracies are meaningless). Cases:

- `frozen_cached`: `freeze: all`, each task's features computed once, the heads trained on them;
- `frozen_live`: `freeze: all` with `cache_features: false`, the backbone run at every step;
- `trainable`: `freeze: none`, the whole network trained.

Each case reports its training seconds (all tasks), the seconds of the whole sequence (evaluation
included), the peak memory and the speed-up against `frozen_live` and `trainable`, measured in one run.
`--tiny` runs timm's `test_vit` at 32 px, 2 tasks of 16 images, on the CPU: a check of the script.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

CASES: dict[str, dict[str, Any]] = {
    "frozen_cached": {"freeze": "all", "cache_features": True},
    "frozen_live": {"freeze": "all", "cache_features": False},
    "trainable": {"freeze": "none", "cache_features": True},
}
TINY = ["--model", "test_vit", "--image-size", "32", "--tasks", "2", "--samples", "16", "--epochs", "1"]


def _config(case: str, args: argparse.Namespace) -> Any:
    from retain.experiment.build import config_from_dict

    backbone = {"name": "timm", "model": args.model, "image_size": args.image_size, **CASES[case]}
    return config_from_dict(
        {
            "scenario": "cil",
            "backbone": backbone,
            "algorithm": {"name": "lwf"},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "eval_batch_size": args.batch_size,
                "device": args.device,
                "precision": args.precision,
                "optimizer": {"name": "adam", "lr": 1e-4},
            },
        }
    )


def _benchmark(args: argparse.Namespace) -> Any:
    from retain.bench.speed import synthetic_source
    from retain.scenarios import make_benchmark

    # 100 classes over 10 tasks' worth of images: each task of 10 classes holds about `samples` images
    source = synthetic_source("synthetic_cifar100", args.samples * 10, 0)
    return make_benchmark(
        source, "cil", num_tasks=args.tasks, classes_per_task=10, augment=False, name="synthetic_cifar100"
    )


def _peak_mib(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # Linux: KiB; the process's peak so far


def measure(case: str, args: argparse.Namespace, bench: Any) -> dict[str, Any]:
    """Train the whole sequence of `case`; its seconds, peak memory and final average accuracy."""
    import torch

    from retain.experiment.build import build_algorithm
    from retain.training.loop import resolve_device, run_sequence

    cfg = _config(case, args)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    algorithm = build_algorithm(cfg, bench.input_shape)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = run_sequence(algorithm, bench, cfg.train, torch.Generator().manual_seed(0), device)
    seconds = time.perf_counter() - start
    last = result.accuracy_matrix[-1]
    return {
        "case": case,
        "train_seconds": sum(result.train_seconds_per_task),
        "total_seconds": seconds,
        "peak_memory_mib": _peak_mib(device.type),
        "final_average_accuracy": sum(last) / len(last),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: each case's seconds and its training speed-up against `frozen_live` and `trainable`."""
    by_case = {r["case"]: r for r in rows}
    lines = [
        "| case | train s | total s | × vs frozen_live (train) | × vs trainable (train) | peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratios = []
        for ref in ("frozen_live", "trainable"):
            base = by_case.get(ref)
            ratios.append(f"{base['train_seconds'] / r['train_seconds']:.1f}" if base and r["train_seconds"] else "–")
        lines.append(
            f"| {r['case']} | {r['train_seconds']:.2f} | {r['total_seconds']:.2f} | {ratios[0]} | {ratios[1]} "
            f"| {r['peak_memory_mib']:.0f} |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retain.bench.pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_base_patch16_224", help="timm architecture (random weights)")
    parser.add_argument("--image-size", type=int, default=None, help="input size (default: the model's)")
    parser.add_argument("--tasks", type=int, default=10, help="tasks of 10 classes (at most 10)")
    parser.add_argument("--samples", type=int, default=1000, help="training images per task")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from " + ", ".join(CASES))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--tiny", action="store_true", help="test_vit at 32 px, 2 tasks of 16 images (a check)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file; the table goes next to it (.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(TINY + argv if "--tiny" in argv else argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        print(f"--cases: unknown {unknown}; expected some of {list(CASES)}", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    bench = _benchmark(args)
    rows: list[dict[str, Any]] = []
    for case in cases:
        rows.append(measure(case, args, bench))
        print(json.dumps(rows[-1]), flush=True)
        if args.out is not None:  # rewritten after every case: a part stopped at a limit keeps its rows
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=2))
            args.out.with_suffix(".md").write_text(table(rows) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
