"""Three ways to run k frozen MLP teachers (784-256-256, batch 64) on the CPU, timed side by side.

- loop: one forward per teacher (`batch_teachers: false`);
- vmap: `torch.func.vmap` over `functional_call` of the stacked weights (the CUDA default);
- matmul: one batched matmul per layer over the stacked weights (`StackedBackbones`, the CPU default).

Interleaved rounds (each round times every way once), medians; the largest absolute difference of each
way's features from the loop's is printed too (0 means bit-identical).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/stacked_teachers.py --teachers 1,4,9,19
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from retain.algorithms.stacked import StackedBackbones
from retain.models import MLP


def ways(k: int) -> tuple[dict[str, object], torch.Tensor]:
    torch.manual_seed(0)
    nets = [MLP((1, 28, 28), (256, 256)).eval().requires_grad_(False) for _ in range(k)]
    plain = [MLP((1, 28, 28), (256, 256)).eval().requires_grad_(False) for _ in range(k)]
    for a, b in zip(plain, nets):
        a.load_state_dict(b.state_dict())
    x = torch.randn(64, 1, 28, 28)
    matmul = StackedBackbones(nets)
    vmapped = StackedBackbones([MLP((1, 28, 28), (256, 256)).eval().requires_grad_(False) for _ in range(k)])
    for name in vmapped.params:
        vmapped.params[name].copy_(matmul.params[name])
    vmapped.layers = None  # force the vmap path
    loop = torch.no_grad()(lambda: torch.stack([n(x) for n in plain]))
    return {"loop": loop, "vmap": lambda: vmapped(x), "matmul": lambda: matmul(x)}, x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", default="1,4,9,19")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| k | loop ms | vmap ms | matmul ms | vmap / loop | matmul / loop | max diff vmap, matmul |")
    print("|---|---|---|---|---|---|---|")
    for k in [int(v) for v in args.teachers.split(",")]:
        fns, _ = ways(k)
        ref = fns["loop"]()
        diffs = [(fns[w]() - ref).abs().max().item() for w in ("vmap", "matmul")]
        rounds = []
        for _ in range(args.rounds):
            row = {}
            for name, fn in fns.items():
                fn()
                start = time.perf_counter()
                for _ in range(args.calls):
                    fn()
                row[name] = (time.perf_counter() - start) / args.calls
            rounds.append(row)
        ms = {n: 1000 * statistics.median(r[n] for r in rounds) for n in fns}
        ratio = {n: statistics.median(r[n] / r["loop"] for r in rounds) for n in ("vmap", "matmul")}
        print(
            f"| {k} | {ms['loop']:.2f} | {ms['vmap']:.2f} | {ms['matmul']:.2f} | {ratio['vmap']:.2f} | "
            f"{ratio['matmul']:.2f} | {diffs[0]:.1e}, {diffs[1]:.1e} |"
        )


if __name__ == "__main__":
    main()
