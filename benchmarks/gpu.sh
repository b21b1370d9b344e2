#!/usr/bin/env bash
# GPU figures for issue 6: the speed harness with a ResNet-18 on Split CIFAR-100-shaped synthetic data
# (3x32x32 uint8 images, 100 classes), then the Permuted Fashion-MNIST MLP cases, on one GPU.
# Run on the device machine:  bash benchmarks/gpu.sh  (writes benchmarks/results/gpu_*.{json,md})
set -euo pipefail
cd "$(dirname "$0")/.."
pip install --quiet -e . 2>/dev/null || true
nvidia-smi --query-gpu=name,memory.total --format=csv
python -m retain.bench.speed --device cuda --benchmark synthetic_cifar100 --backbone resnet18 \
  --tasks 2,5,10 --samples 5000 --epochs 2 --batch-size 128 --threads 8 \
  --out benchmarks/results/gpu_resnet18.json
python -m retain.bench.speed --device cuda --tasks 2,5,10,20 --samples 20000 --epochs 2 \
  --threads 8 --out benchmarks/results/gpu_mlp.json
