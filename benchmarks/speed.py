"""Speed and memory of Finetuning and LwF against a minimal plain-PyTorch loop; same as `retain bench speed`.

python benchmarks/speed.py --tasks 2,5,10,20 --samples 6000 --epochs 2
"""

from retain.bench.speed import main

if __name__ == "__main__":
    raise SystemExit(main())
