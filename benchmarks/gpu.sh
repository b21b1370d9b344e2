#!/usr/bin/env bash
# GPU figures for issue 6: the speed harness with a ResNet-18 on Split CIFAR-100-shaped synthetic data
# (3x32x32 uint8 images, 100 classes), then the Permuted Fashion-MNIST MLP cases, on one GPU.
#
# Run on the device machine from the repository root:  bash benchmarks/gpu.sh
# It needs no install and no network: the package runs from src/ with the machine's own python3 and torch.
# Results go to $OUT when that is set (the device tool brings them back), else benchmarks/results/.
# Fashion-MNIST is used when its idx files are in /usr/share/datasets/fashion-mnist;
# otherwise random images of the same shape (timings are the same; accuracies are then meaningless).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="$(command -v python3 || command -v python)"
DEST="${OUT:-benchmarks/results}"
mkdir -p "$DEST"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$DEST/gpu_device.txt"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$DEST/gpu_device.txt"
"$PY" -m retain.bench.speed --device cuda --benchmark synthetic_cifar100 --backbone resnet18 \
  --tasks 2,5,10 --samples 5000 --epochs 2 --batch-size 128 --threads 8 \
  --out "$DEST/gpu_resnet18.json"
FMNIST=/usr/share/datasets/fashion-mnist
if [ -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then MLP_DATA=permuted_fmnist; else MLP_DATA=synthetic_fmnist; fi
"$PY" -m retain.bench.speed --device cuda --benchmark "$MLP_DATA" --tasks 2,5,10,20 --samples 20000 \
  --epochs 2 --threads 8 --out "$DEST/gpu_mlp.json"
